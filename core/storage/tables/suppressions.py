"""The suppression list: contacts never to be contacted again."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from core.storage.tables.base import Base
from core.storage.types import UTCDateTime

__all__ = ["SuppressionRow"]


class SuppressionRow(Base):
    """Keyed hashes of erased customers' contacts: never contact them again."""

    __tablename__ = "suppressions"
    blind: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
