"""Purchases reported by the shop's order system."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from core.storage.tables.base import Base
from core.storage.types import UTCDateTime

__all__ = ["PurchaseRow"]


class PurchaseRow(Base):
    """An order. After erasure it stays only pseudonymised (customer_ref cleared)."""

    __tablename__ = "purchases"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(String(128), unique=True)
    customer_ref: Mapped[str | None] = mapped_column(
        ForeignKey("customers.ref", ondelete="SET NULL"), index=True
    )
    pseudonym: Mapped[str] = mapped_column(String(32), index=True)
    purchased_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    total: Mapped[str] = mapped_column(String(32))
    currency: Mapped[str] = mapped_column(String(3))
    items_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
