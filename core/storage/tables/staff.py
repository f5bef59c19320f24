"""Staff members and their roles, and each one's place in the desk's dialogs.

A staff member's place in the desk's dialogs (keyboard tokens, the request whose
reason they are typing, the look-ups they may reveal) is kept in
``staff_conversations``, keyed by their Telegram id like the staff table itself.
It holds references only, never personal data, so it is stored as plain JSON.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from core.storage.tables.base import Base
from core.storage.types import UTCDateTime

__all__ = ["StaffConversationRow", "StaffRow"]


class StaffRow(Base):
    __tablename__ = "staff"
    telegram_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    role: Mapped[str] = mapped_column(String(16))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime)


class StaffConversationRow(Base):
    __tablename__ = "staff_conversations"
    telegram_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    state: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
