"""The consent ledger: one row per decision, never updated."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from core.storage.tables.base import Base
from core.storage.types import UTCDateTime

__all__ = ["ConsentRow"]


class ConsentRow(Base):
    __tablename__ = "consents"
    ref: Mapped[str] = mapped_column(String(32), primary_key=True)
    customer_ref: Mapped[str] = mapped_column(
        ForeignKey("customers.ref", ondelete="CASCADE"), index=True
    )
    purpose: Mapped[str] = mapped_column(String(64))
    decision: Mapped[str] = mapped_column(String(16))
    notice_version: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(32))
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Given as a PIPL separate consent, on its own screen: its kind (see ConsentEntry).
    separately: Mapped[str | None] = mapped_column(String(16))


Index("ix_consents_customer_purpose", ConsentRow.customer_ref, ConsentRow.purpose)
