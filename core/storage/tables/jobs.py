"""The durable job queue."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from core.storage.tables.base import Base
from core.storage.types import UTCDateTime

__all__ = ["JobRow"]


class JobRow(Base):
    """A durable job: claimed with a lease, retried with backoff, done once.

    Payloads hold references only (customer refs, order ids), never personal data.
    """

    __tablename__ = "jobs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    key: Mapped[str] = mapped_column(String(160), unique=True)
    payload: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    state: Mapped[str] = mapped_column(String(16), index=True)
    run_after: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=8)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    leased_by: Mapped[str | None] = mapped_column(String(64))
    last_error: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


# The claim's order: due jobs by time, found without sorting a long queue (a breach
# notice fan-out leaves thousands pending at once).
Index("ix_jobs_state_run_after", JobRow.state, JobRow.run_after)
