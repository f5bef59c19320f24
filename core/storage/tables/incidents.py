"""Personal-data breaches, and the notice each affected customer gets."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from core.storage.tables.base import Base
from core.storage.types import UTCDateTime

__all__ = ["IncidentNoticeRow", "IncidentRow"]


class IncidentRow(Base):
    """The staff's summary is encrypted under the incident's own data key."""

    __tablename__ = "incidents"
    ref: Mapped[str] = mapped_column(String(32), primary_key=True)
    state: Mapped[str] = mapped_column(String(16), index=True)
    aware_at: Mapped[datetime] = mapped_column(UTCDateTime)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    summary_enc: Mapped[bytes] = mapped_column(LargeBinary)
    categories: Mapped[list[str]] = mapped_column(JSON)
    held_from: Mapped[datetime | None] = mapped_column(UTCDateTime)
    held_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    risk: Mapped[str | None] = mapped_column(String(8))
    measures: Mapped[list[str]] = mapped_column(JSON, default=list)
    notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    authority_told_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    history: Mapped[list[list[str]]] = mapped_column(JSON, default=list)


class IncidentNoticeRow(Base):
    """One affected customer's notice: queued, sending (committed right before it
    leaves), sent, uncertain (may have arrived: never sent again), undeliverable
    (blocked, no chat) or erased (counted, not messaged). Customer refs are
    pseudonyms; an erased customer's row keeps only the count's facts."""

    __tablename__ = "incident_notices"
    incident_ref: Mapped[str] = mapped_column(String(32), primary_key=True)
    customer_ref: Mapped[str] = mapped_column(String(32), primary_key=True)
    jurisdiction: Mapped[str] = mapped_column(String(32))
    language: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


Index("ix_incident_notices_state", IncidentNoticeRow.incident_ref, IncidentNoticeRow.state)
