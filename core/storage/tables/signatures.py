"""Signatures already seen on signed callbacks (the shop's purchase callback)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from core.storage.tables.base import Base
from core.storage.types import UTCDateTime

__all__ = ["NonceRow"]


class NonceRow(Base):
    """Signatures already seen on signed callbacks (replay protection), kept 10 minutes."""

    __tablename__ = "seen_signatures"
    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
