"""Data subject requests, the corrections waiting for a request's approval, and the
customers' answers to the shop's questions about a request."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from core.storage.tables.base import Base
from core.storage.types import UTCDateTime

__all__ = ["DataRequestRow", "PendingChangeRow", "RequestAnswerRow"]


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
    # What the request is about, where its kind does not say (a correction's field).
    detail: Mapped[str | None] = mapped_column(String(32))


class PendingChangeRow(Base):
    """A correction waiting for staff approval; the new value is encrypted with the
    customer's key, so an erasure (key shred + cascade) takes it along."""

    __tablename__ = "rights_pending_changes"
    request_ref: Mapped[str] = mapped_column(String(32), primary_key=True)
    customer_ref: Mapped[str] = mapped_column(
        ForeignKey("customers.ref", ondelete="CASCADE"), index=True
    )
    field: Mapped[str] = mapped_column(String(16))
    value_enc: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class RequestAnswerRow(Base):
    """What a customer typed when the shop asked about their request: encrypted with
    their key, so an erasure (key shred + cascade) takes it along."""

    __tablename__ = "request_answers"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_ref: Mapped[str] = mapped_column(String(32), index=True)
    customer_ref: Mapped[str] = mapped_column(
        ForeignKey("customers.ref", ondelete="CASCADE"), index=True
    )
    text_enc: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
