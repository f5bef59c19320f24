"""Authorized agents' pair-wise tokens and the requests they sent (DRP 1.0).

A token is kept only as a keyed hash; a request keeps no identity claim, only the
pseudonymous ref of the customer they matched (or none).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.storage.tables.base import Base
from core.storage.types import UTCDateTime

__all__ = ["AgentRequestRow", "AgentTokenRow"]


class AgentTokenRow(Base):
    __tablename__ = "agent_tokens"
    agent_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    paired_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AgentRequestRow(Base):
    __tablename__ = "agent_requests"
    # A retry of the same agent request (the agent's own id) finds the first one.
    __table_args__ = (UniqueConstraint("agent_id", "agent_request_id"),)
    request_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    agent_id: Mapped[str] = mapped_column(String(64), index=True)
    agent_request_id: Mapped[str | None] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(32))
    regime: Mapped[str | None] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(32))
    detail: Mapped[str | None] = mapped_column(String(32))
    customer_ref: Mapped[str | None] = mapped_column(String(32), index=True)
    data_request_ref: Mapped[str | None] = mapped_column(String(32), index=True)
    status_callback: Mapped[str | None] = mapped_column(String(2048))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expected_by: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    changes: Mapped[int] = mapped_column(Integer, default=0)
    opened_it: Mapped[bool] = mapped_column(Boolean, default=False)
