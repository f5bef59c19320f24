"""Customers, their identities (blind-indexed) and their data keys.

Personal fields are ``*_enc`` columns holding ciphertext.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.storage.tables.base import Base
from core.storage.types import UTCDateTime

__all__ = ["CustomerRow", "DataKeyRow", "IdentityRow"]


class CustomerRow(Base):
    __tablename__ = "customers"
    ref: Mapped[str] = mapped_column(String(32), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_active_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    # The customer's last message on WhatsApp: its 24-hour window for free-form messages.
    last_message_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    language: Mapped[str] = mapped_column(String(16), default="en")
    jurisdiction: Mapped[str | None] = mapped_column(String(32))
    timezone: Mapped[str | None] = mapped_column(String(64))
    notice_version_seen: Mapped[str | None] = mapped_column(String(32))
    restricted: Mapped[bool] = mapped_column(Boolean, default=False)
    objected_marketing: Mapped[bool] = mapped_column(Boolean, default=False)
    opted_out_sharing_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    unreachable: Mapped[bool] = mapped_column(Boolean, default=False)
    name_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    phone_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    email_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    address_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    member_no_enc: Mapped[bytes | None] = mapped_column(LargeBinary)


class DataKeyRow(Base):
    """A customer's data key, wrapped by a master key. Deleting it shreds their data."""

    __tablename__ = "data_keys"
    customer_ref: Mapped[str] = mapped_column(String(32), primary_key=True)
    wrapped: Mapped[bytes] = mapped_column(LargeBinary)
    master_kid: Mapped[str] = mapped_column(String(16), index=True)


class IdentityRow(Base):
    __tablename__ = "identities"
    __table_args__ = (UniqueConstraint("kind", "blind", name="uq_identities_kind_blind"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    customer_ref: Mapped[str] = mapped_column(
        ForeignKey("customers.ref", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    blind: Mapped[str] = mapped_column(String(64))
    value_enc: Mapped[bytes] = mapped_column(LargeBinary)
    verified: Mapped[bool] = mapped_column(Boolean, default=False)
