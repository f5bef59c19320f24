"""Shared renderings: times in the customer's zone, ticks, purpose names."""

from __future__ import annotations

from datetime import datetime

from bot.conversation.turn import Turn

__all__ = ["local_time", "purpose_title", "regime_name", "tick"]


def local_time(turn: Turn, at: datetime) -> str:
    """The time in the customer's zone, the zone named as their language names it."""
    return turn.t.time(at, turn.customer.zone(turn.core.policy.zone))


def regime_name(turn: Turn, key: str) -> str:
    """A law as a customer reads it (香港《个人资料（私隐）条例》), else the policy's name."""
    named = turn.t(f"regime.{key}")
    return named if named != f"regime.{key}" else turn.core.policy.jurisdiction(key).name


def tick(on: bool) -> str:
    return "☑" if on else "☐"


def purpose_title(turn: Turn, purpose: str) -> str:
    return turn.t(turn.core.policy.purpose(purpose).title_key)
