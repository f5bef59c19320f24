"""``privacy-bot deadline REGIME DATE [--clock ...]``: a legal clock, explained."""

from __future__ import annotations

import sys
from datetime import date, datetime, time

from bot.render.deadline import explain_deadline
from bot.render.i18n import Translator
from core.domain.policy import LegalClock, Policy
from core.errors import NotFound, PolicyDenied

__all__ = ["deadline_command"]


def deadline_command(policy: Policy, regime_key: str, day: str, clock: str) -> int:
    """Print the due date of ``clock`` for a request received on ``day`` (noon, the
    regime's local time), then why."""
    try:
        received = date.fromisoformat(day)
    except ValueError:
        return _error(f"{day!r} is not a date: write it as 2026-09-28")
    try:
        regime = policy.jurisdiction(regime_key)
    except NotFound as error:
        known = ", ".join(j.key for j in policy.jurisdictions)
        return _error(f"{error} (regimes in the policy: {known})")
    at = datetime.combine(received, time(12), tzinfo=regime.zone)
    try:
        deadline = regime.deadline(at, LegalClock(clock))
    except (NotFound, PolicyDenied) as error:
        return _error(str(error))
    print("\n".join(explain_deadline(Translator("en"), regime, deadline)))
    return 0


def _error(sentence: str) -> int:
    print(f"privacy-bot: error: {sentence}", file=sys.stderr)
    return 2
