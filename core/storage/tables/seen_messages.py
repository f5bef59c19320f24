"""Messages a platform delivered already (WhatsApp redelivers until it hears 200)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from core.storage.tables.base import Base
from core.storage.types import UTCDateTime

__all__ = ["SeenMessageRow"]


class SeenMessageRow(Base):
    """A hash of the platform's message id, kept 7 days."""

    __tablename__ = "seen_messages"
    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
