"""A customer's conversation state, encrypted with their key."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, LargeBinary
from sqlalchemy.orm import Mapped, mapped_column

from core.storage.tables.base import Base
from core.storage.types import UTCDateTime

__all__ = ["ConversationRow"]


class ConversationRow(Base):
    """Where a customer is in a dialog; survives restarts and both frameworks."""

    __tablename__ = "conversations"
    customer_ref: Mapped[str] = mapped_column(
        ForeignKey("customers.ref", ondelete="CASCADE"), primary_key=True
    )
    state_enc: Mapped[bytes] = mapped_column(LargeBinary)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
