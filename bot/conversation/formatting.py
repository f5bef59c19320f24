"""Shared renderings: times in the customer's zone, ticks, purpose names."""

from __future__ import annotations

from datetime import datetime

from bot.conversation.turn import Turn

__all__ = ["local_time", "purpose_title", "tick"]


def local_time(turn: Turn, at: datetime) -> str:
    zone = turn.customer.zone(turn.core.policy.zone)
    return at.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


def tick(on: bool) -> str:
    return "☑" if on else "☐"


def purpose_title(turn: Turn, purpose: str) -> str:
    return turn.t(turn.core.policy.purpose(purpose).title_key)
