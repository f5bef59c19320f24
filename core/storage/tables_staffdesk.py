"""Tables of the staffdesk area (see core/storage/schema.py).

A staff member's place in the desk's dialogs (keyboard tokens, the request whose
reason they are typing, the look-ups they may reveal) lives here, keyed by their
Telegram id like the staff table itself. It holds references only, never
personal data, so it is stored as plain JSON.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger
from sqlalchemy.orm import Mapped, mapped_column

from core.storage.tables import Base
from core.storage.types import UTCDateTime

__all__ = ["Base", "StaffConversationRow"]


class StaffConversationRow(Base):
    __tablename__ = "staff_conversations"
    telegram_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    state: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
