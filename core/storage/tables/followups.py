"""Post-purchase follow-ups.

A follow-up row exists from the moment one is scheduled; its state moves
scheduled -> sending -> sent | uncertain | failed, or scheduled -> suppressed.
"sending" is written (and committed) before the message leaves, so a worker that
takes over a job after a crash knows a message may already be out.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from core.storage.tables.base import Base
from core.storage.types import UTCDateTime

__all__ = ["FollowupRow"]


class FollowupRow(Base):
    """One post-purchase follow-up (behaviour category: ``followup_history``)."""

    __tablename__ = "followups"
    order_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    customer_ref: Mapped[str] = mapped_column(
        ForeignKey("customers.ref", ondelete="CASCADE"), index=True
    )
    state: Mapped[str] = mapped_column(String(16), index=True)
    scheduled_for: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    reason: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
