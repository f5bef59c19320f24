"""A personal-data breach (an incident) and the regulators' clocks it starts.

The clocks run from when the shop became aware (GDPR Art. 33: 72 hours to the
authority). Which clocks apply depends on the regimes of the customers affected:
each regime in the policy names its hours for telling the authority and the people
affected, and a threshold above which the authority must be told (California
Civil Code 1798.82(f): more than 500 residents, the Attorney General).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from core.domain.policy import JurisdictionSpec
from core.errors import InvalidInput, InvalidTransition

__all__ = [
    "Audience",
    "BreachClock",
    "Incident",
    "IncidentState",
    "Measure",
    "Risk",
    "breach_clocks",
]


class IncidentState(StrEnum):
    OPEN = "open"  # recorded; what happened and to whom is being worked out
    ASSESSED = "assessed"  # risk and measures known: ready to tell people
    NOTIFIED = "notified"  # the affected customers' notices are on their way
    CLOSED = "closed"


_NEXT = {
    IncidentState.OPEN: {IncidentState.ASSESSED, IncidentState.CLOSED},
    IncidentState.ASSESSED: {IncidentState.ASSESSED, IncidentState.NOTIFIED, IncidentState.CLOSED},
    IncidentState.NOTIFIED: {IncidentState.CLOSED},
    IncidentState.CLOSED: set(),
}


class Risk(StrEnum):
    """GDPR Art. 34: people are told when the risk to them is high."""

    LOW = "low"
    HIGH = "high"


class Measure(StrEnum):
    """What the shop did, as customers read it (catalog ``incident.measure.<code>``)."""

    CONTAINED = "contained"  # the leak was stopped
    ACCESS_REVOKED = "access_revoked"
    PASSWORDS_RESET = "passwords_reset"
    SYSTEMS_FIXED = "systems_fixed"
    POLICE_INFORMED = "police_informed"
    MONITORING = "monitoring"  # watching for misuse


class Audience(StrEnum):
    AUTHORITY = "authority"
    INDIVIDUALS = "individuals"


@dataclass
class Incident:
    """``summary`` is staff-only free text (encrypted at rest, never sent as typed);
    customers read only catalog texts built from the structured fields."""

    ref: str
    aware_at: datetime
    opened_at: datetime
    categories: tuple[str, ...]
    summary: str
    held_from: datetime | None = None  # affected: data held or changed in this window
    held_until: datetime | None = None  # (both None: every customer the shop holds)
    risk: Risk | None = None
    measures: tuple[Measure, ...] = ()
    state: IncidentState = IncidentState.OPEN
    notified_at: datetime | None = None
    authority_told_at: datetime | None = None
    closed_at: datetime | None = None
    history: list[tuple[datetime, IncidentState, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.aware_at > self.opened_at:
            raise InvalidInput("the shop cannot become aware after today", code="bad_incident")
        if self.held_from and self.held_until and self.held_from > self.held_until:
            raise InvalidInput("the window ends before it starts", code="bad_incident")
        if not self.categories:
            raise InvalidInput("name at least one data category", code="bad_incident")

    @property
    def all_customers(self) -> bool:
        return self.held_from is None and self.held_until is None

    def move_to(self, state: IncidentState, at: datetime, note: str = "") -> None:
        if state not in _NEXT[self.state]:
            raise InvalidTransition(f"an {self.state} incident cannot become {state}")
        self.state = state
        self.history.append((at, state, note))
        if state is IncidentState.NOTIFIED:
            self.notified_at = at
        if state is IncidentState.CLOSED:
            self.closed_at = at

    def assess(self, risk: Risk, measures: tuple[Measure, ...], at: datetime) -> None:
        self.move_to(IncidentState.ASSESSED, at, f"risk {risk}")
        self.risk = risk
        self.measures = measures

    def told_authority(self, at: datetime) -> None:
        if self.state is IncidentState.CLOSED:
            raise InvalidTransition("a closed incident cannot change")
        if at < self.aware_at:
            raise InvalidInput("the authority cannot be told before awareness", code="bad_incident")
        self.authority_told_at = at
        self.history.append((at, self.state, "authority told"))


@dataclass(frozen=True)
class BreachClock:
    """One regulator's clock for one audience, and how the incident stands against it."""

    regime: str
    audience: Audience
    hours: int
    due_at: datetime
    customers: int  # affected customers under this regime
    threshold: int | None  # the authority is told only above this many
    applies: bool
    done_at: datetime | None  # when the audience was told

    @property
    def met(self) -> bool | None:
        """True/False once told (or overdue); None while it still runs or does not apply."""
        if not self.applies:
            return None
        if self.done_at is not None:
            return self.done_at <= self.due_at
        return None

    def overdue(self, now: datetime) -> bool:
        return self.applies and self.done_at is None and now > self.due_at

    @staticmethod
    def due(aware_at: datetime, hours: int) -> datetime:
        return aware_at + timedelta(hours=hours)


def breach_clocks(
    incident: Incident,
    counts: Mapping[str, int],
    regimes: Iterable[JurisdictionSpec],
    told_at: datetime | None = None,
) -> list[BreachClock]:
    """Each regime's clocks, for the regimes with affected customers (``counts``);
    ``told_at``: when the last notice reached a customer (None: not all told yet)."""
    clocks = []
    for regime in regimes:
        rules, n = regime.breach, counts.get(regime.key, 0)
        if rules is None or n == 0:
            continue
        if rules.authority_hours is not None:
            over = rules.authority_threshold is None or n > rules.authority_threshold
            clocks.append(
                BreachClock(
                    regime.key,
                    Audience.AUTHORITY,
                    rules.authority_hours,
                    BreachClock.due(incident.aware_at, rules.authority_hours),
                    n,
                    rules.authority_threshold,
                    over,
                    incident.authority_told_at,
                )
            )
        applies = not rules.high_risk_only or incident.risk is not Risk.LOW
        clocks.append(
            BreachClock(
                regime.key,
                Audience.INDIVIDUALS,
                rules.individuals_hours,
                BreachClock.due(incident.aware_at, rules.individuals_hours),
                n,
                None,
                applies,
                told_at,
            )
        )
    return clocks
