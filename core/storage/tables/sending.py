"""A bot's sending budget, shared by every process of the bot (bot/outbound/shared.py).

Times are seconds since the epoch on the database's own clock, so processes on
hosts whose clocks disagree still count one second alike.
"""

from __future__ import annotations

from sqlalchemy import Float, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from core.storage.tables.base import Base

__all__ = ["SendChatRow", "SendPauseRow", "SendPermitRow"]


class SendPermitRow(Base):
    """One of a bot's ``per_second`` permits: free again one window after ``at``.

    A ring of N permits lets at most N messages leave in any window, however the
    processes interleave: a permit is taken only when its last use is a window old.
    """

    __tablename__ = "send_permits"
    # The earliest-used permits are what every grant looks for.
    __table_args__ = (Index("ix_send_permits_budget_at", "budget", "at"),)
    budget: Mapped[str] = mapped_column(String(32), primary_key=True)
    slot: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[float] = mapped_column(Float, default=0.0)


class SendChatRow(Base):
    """When a chat may next get an unprompted message; the chat only as a keyed hash."""

    __tablename__ = "send_chats"
    budget: Mapped[str] = mapped_column(String(32), primary_key=True)
    chat: Mapped[str] = mapped_column(String(64), primary_key=True)
    next_at: Mapped[float] = mapped_column(Float, index=True)


class SendPauseRow(Base):
    """Until when nothing may be sent (Telegram's last 429 ``retry_after``)."""

    __tablename__ = "send_pauses"
    budget: Mapped[str] = mapped_column(String(32), primary_key=True)
    until: Mapped[float] = mapped_column(Float, default=0.0)
