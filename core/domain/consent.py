"""The consent ledger: append-only decisions per customer and purpose."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

__all__ = ["ConsentDecision", "ConsentEntry", "current_consents"]


class ConsentDecision(StrEnum):
    GIVEN = "given"
    WITHDRAWN = "withdrawn"


@dataclass(frozen=True)
class ConsentEntry:
    """One decision, with what the customer was shown, where and when (UTC)."""

    ref: str
    customer_ref: str
    purpose: str
    decision: ConsentDecision
    notice_version: str
    channel: str
    decided_at: datetime

    @property
    def given(self) -> bool:
        return self.decision is ConsentDecision.GIVEN


def current_consents(entries: Iterable[ConsentEntry]) -> dict[str, ConsentEntry]:
    """The latest entry per purpose; the ledger itself is never rewritten."""
    latest: dict[str, ConsentEntry] = {}
    for entry in sorted(entries, key=lambda e: e.decided_at):
        latest[entry.purpose] = entry
    return latest
