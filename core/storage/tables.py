"""The database schema. Personal fields are ``*_enc`` columns holding ciphertext."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from core.storage.types import UTCDateTime

__all__ = [
    "AuditEntryRow",
    "AuditHeadRow",
    "Base",
    "ConsentRow",
    "ConversationRow",
    "CustomerRow",
    "DataKeyRow",
    "DataRequestRow",
    "IdentityRow",
    "JobRow",
    "MetaRow",
    "NonceRow",
    "PurchaseRow",
    "StaffRow",
    "SuppressionRow",
    "SurveyAnswerRow",
]

_NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=_NAMING)


class MetaRow(Base):
    """Wrapped service keys (blind index) and other small facts about the database."""

    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[bytes] = mapped_column(LargeBinary)


class CustomerRow(Base):
    __tablename__ = "customers"
    ref: Mapped[str] = mapped_column(String(32), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_active_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
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


class SurveyAnswerRow(Base):
    __tablename__ = "survey_answers"
    __table_args__ = (
        UniqueConstraint("customer_ref", "survey_id", "question_id", name="uq_survey_answers"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    customer_ref: Mapped[str] = mapped_column(
        ForeignKey("customers.ref", ondelete="CASCADE"), index=True
    )
    survey_id: Mapped[str] = mapped_column(String(64))
    question_id: Mapped[str] = mapped_column(String(64))
    value_enc: Mapped[bytes] = mapped_column(LargeBinary)
    answered_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


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


class ConversationRow(Base):
    """Where a customer is in a dialog; survives restarts and both frameworks."""

    __tablename__ = "conversations"
    customer_ref: Mapped[str] = mapped_column(
        ForeignKey("customers.ref", ondelete="CASCADE"), primary_key=True
    )
    state_enc: Mapped[bytes] = mapped_column(LargeBinary)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class DataRequestRow(Base):
    __tablename__ = "data_requests"
    ref: Mapped[str] = mapped_column(String(32), primary_key=True)
    customer_ref: Mapped[str] = mapped_column(String(32), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    jurisdiction: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16), index=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    extended: Mapped[bool] = mapped_column(Boolean, default=False)
    history: Mapped[list[list[str | None]]] = mapped_column(JSON, default=list)
    # Which downstream systems confirmed (erasure, rectification, restriction notices).
    confirmations: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Background export delivery: "sending" is committed before the document leaves,
    # "uncertain" when it may have arrived but was never confirmed (never sent twice).
    delivery: Mapped[str | None] = mapped_column(String(16))


class JobRow(Base):
    """A durable job: claimed with a lease, retried with backoff, done once.

    Payloads hold references only (customer refs, order ids), never personal data.
    """

    __tablename__ = "jobs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    key: Mapped[str] = mapped_column(String(160), unique=True)
    payload: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    state: Mapped[str] = mapped_column(String(16), index=True)
    run_after: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=8)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    leased_by: Mapped[str | None] = mapped_column(String(64))
    last_error: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SuppressionRow(Base):
    """Keyed hashes of erased customers' contacts: never contact them again."""

    __tablename__ = "suppressions"
    blind: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class NonceRow(Base):
    """Signatures already seen on signed callbacks (replay protection), kept 10 minutes."""

    __tablename__ = "seen_signatures"
    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class StaffRow(Base):
    __tablename__ = "staff"
    telegram_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    role: Mapped[str] = mapped_column(String(16))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AuditEntryRow(Base):
    __tablename__ = "audit_entries"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor_kind: Mapped[str] = mapped_column(String(16))
    actor_ref: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64), index=True)
    subject_ref: Mapped[str | None] = mapped_column(String(64), index=True)
    purpose: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16))
    details: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    # Which rule the hash follows (core.audit.chain); rows from before 0007 are 1.
    version: Mapped[int] = mapped_column(Integer, server_default="1")


class AuditHeadRow(Base):
    """The chain's tip; locking this one row serialises appends across processes."""

    __tablename__ = "audit_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))


Index("ix_consents_customer_purpose", ConsentRow.customer_ref, ConsentRow.purpose)
