"""Small facts about the database itself."""

from __future__ import annotations

from sqlalchemy import LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from core.storage.tables.base import Base

__all__ = ["MetaRow"]


class MetaRow(Base):
    """Wrapped service keys (blind index) and other small facts about the database."""

    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[bytes] = mapped_column(LargeBinary)
