"""The consent ledger: append-only decisions per customer and purpose.

The one rule of "consent in force" lives here (:func:`consent_standing`): a
consent counts only if the customer's latest decision for the purpose is "given"
*and* was made under the notice now in force. Consent given under an older notice
was not informed by what the shop says today, so it is asked again.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

__all__ = [
    "ConsentDecision",
    "ConsentEntry",
    "ConsentStanding",
    "ConsentStates",
    "RecordStatus",
    "consent_in_force",
    "consent_standing",
    "current_consents",
    "record_statuses",
]


class ConsentDecision(StrEnum):
    GIVEN = "given"
    WITHDRAWN = "withdrawn"


class ConsentStanding(StrEnum):
    """Where a customer stands on one purpose, as the policy reads it now."""

    NEVER = "never"  # no decision recorded
    WITHDRAWN = "withdrawn"
    IN_FORCE = "in_force"  # given, under the notice in force
    STALE = "stale"  # given under an older notice: not in force, asked again

    @property
    def in_force(self) -> bool:
        return self is ConsentStanding.IN_FORCE


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
    # A PIPL separate consent given on its own screen: its kind ("provision",
    # "sensitive", "cross_border"); None for any other decision.
    separately: str | None = None

    @property
    def given(self) -> bool:
        """The ledger's raw decision. Not "in force": see :meth:`in_force`."""
        return self.decision is ConsentDecision.GIVEN

    def in_force(self, notice_version: str) -> bool:
        """Given, and under the notice version now in force."""
        return self.standing(notice_version).in_force

    def standing(self, notice_version: str) -> ConsentStanding:
        if not self.given:
            return ConsentStanding.WITHDRAWN
        if self.notice_version != notice_version:
            return ConsentStanding.STALE
        return ConsentStanding.IN_FORCE


def consent_standing(entry: ConsentEntry | None, notice_version: str) -> ConsentStanding:
    """The customer's standing on a purpose from its latest entry (None: never decided)."""
    return ConsentStanding.NEVER if entry is None else entry.standing(notice_version)


def consent_in_force(entry: ConsentEntry | None, notice_version: str) -> bool:
    """May the shop rely on this consent now? (Given, under the notice in force.)"""
    return consent_standing(entry, notice_version).in_force


def current_consents(entries: Iterable[ConsentEntry]) -> dict[str, ConsentEntry]:
    """The latest entry per purpose; the ledger itself is never rewritten."""
    latest: dict[str, ConsentEntry] = {}
    for entry in sorted(entries, key=lambda e: e.decided_at):
        latest[entry.purpose] = entry
    return latest


class RecordStatus(StrEnum):
    """A ledger decision as the W3C DPV's consent states name it (ISO/IEC TS 27560)."""

    GIVEN = "ConsentGiven"
    RENEWED = "RenewedConsentGiven"  # given again after an earlier decision
    REFUSED = "ConsentRefused"  # declined before ever agreeing
    WITHDRAWN = "ConsentWithdrawn"  # taken back after agreeing


class ConsentStates:
    """Gives each decision its DPV state. Decisions must come grouped by customer and
    purpose, oldest first within each (as ``ConsentRepository.stream`` gives them):
    only the current pair is remembered, so a ledger of any size streams through."""

    def __init__(self) -> None:
        self._pair: tuple[str, str] | None = None
        self._decided = self._agreed = False

    def of(self, entry: ConsentEntry) -> RecordStatus:
        if (entry.customer_ref, entry.purpose) != self._pair:
            self._pair, self._decided, self._agreed = (
                (entry.customer_ref, entry.purpose),
                False,
                False,
            )
        if entry.given:
            status = RecordStatus.RENEWED if self._decided else RecordStatus.GIVEN
            self._agreed = True
        else:
            status = RecordStatus.WITHDRAWN if self._agreed else RecordStatus.REFUSED
        self._decided = True
        return status


def record_statuses(entries: Iterable[ConsentEntry]) -> Iterator[tuple[ConsentEntry, RecordStatus]]:
    """Each decision with its DPV state (see ``ConsentStates`` for the order needed)."""
    states = ConsentStates()
    for entry in entries:
        yield entry, states.of(entry)
