"""Use case: the desk's statistics — consent rate per purpose over time, requests by state.

Counts only, from the consent ledger and the request table; no personal field is
read. Small numbers could single a customer out, so a count under ``SMALL`` is
shown as "<5", and a rate is given only when its whole is at least ``SMALL`` and
neither of its parts is between 1 and ``SMALL`` - 1.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from core.domain.consent import ConsentDecision
from core.domain.customer import IdentityKind
from core.domain.incident import Audience
from core.domain.policy import Permission
from core.domain.requests import RequestState
from core.services.desk.queue import permit
from core.services.incidents.record import incident_view
from core.storage import UnitOfWork
from core.storage.repositories.consents import LedgerRow

__all__ = [
    "SMALL",
    "DeskStats",
    "RatePoint",
    "ViewStats",
    "Withheld",
    "desk_stats",
    "safe_rate",
    "shown",
    "withheld",
]

SMALL = 5
_APPS = [IdentityKind.TELEGRAM, IdentityKind.WHATSAPP]  # a customer on both counts in each


def shown(count: int) -> str:
    return f"<{SMALL}" if count < SMALL else str(count)


class Withheld(StrEnum):
    """Why a rate is not published: which of its counts is too small."""

    FEW_IN_ALL = "few_in_all"  # the whole is under SMALL
    FEW_PART = "few_part"  # between 1 and SMALL - 1 are counted in
    FEW_REST = "few_rest"  # between 1 and SMALL - 1 are left out


def withheld(part: int, whole: int) -> Withheld | None:
    if whole < SMALL:
        return Withheld.FEW_IN_ALL
    if 0 < part < SMALL:
        return Withheld.FEW_PART
    if 0 < whole - part < SMALL:
        return Withheld.FEW_REST
    return None


def safe_rate(part: int, whole: int) -> float | None:
    """``part / whole``, or None where publishing it could single someone out."""
    return None if withheld(part, whole) else part / whole


@dataclass(frozen=True)
class RatePoint:
    month: str  # "2026-11": the state at the end of that month (or now)
    given: int
    customers: int

    @property
    def rate(self) -> float | None:
        return safe_rate(self.given, self.customers)

    @property
    def withheld(self) -> Withheld | None:
        return withheld(self.given, self.customers)


@dataclass(frozen=True)
class DeskStats:
    months: list[str]
    consent: dict[str, list[RatePoint]]  # purpose -> one point per month
    by_state: dict[str, int]
    closed: int
    on_time: int
    overdue_open: int
    incidents: int = 0
    incidents_notified: int = 0  # customers told (every applicable clock settled)
    incidents_on_time: int = 0  # ... within every regime's clock for the people
    by_channel: dict[str, int] = field(default_factory=dict)  # customers per messaging app

    @property
    def on_time_rate(self) -> float | None:
        return safe_rate(self.on_time, self.closed)

    @property
    def on_time_withheld(self) -> Withheld | None:
        return withheld(self.on_time, self.closed)


@dataclass(frozen=True)
class ViewStats:
    by: int | None
    months: int = 6


async def desk_stats(cmd: ViewStats, uow: UnitOfWork) -> DeskStats:
    await permit(cmd.by, Permission.STATS_VIEW, "desk.stats", uow)
    now = uow.now()
    bounds = _month_bounds(now, max(1, min(cmd.months, 24)))
    purposes = [p.key for p in uow.policy.consent_purposes()]
    ledger = await uow.consents.ledger(purposes)
    created = sorted(await uow.customers.created_dates())
    consent = _consent_series(ledger, created, bounds, purposes)
    facts = await uow.requests.facts()
    by_state = Counter(state for state, _, _ in facts)
    closed = [
        (due, at) for state, due, at in facts if at is not None and RequestState(state).closed
    ]
    return DeskStats(
        months=[label for label, _ in bounds],
        consent=consent,
        by_state={s.value: by_state.get(s.value, 0) for s in RequestState},
        closed=len(closed),
        on_time=sum(1 for due, at in closed if at <= due),
        overdue_open=sum(
            1 for state, due, _ in facts if not RequestState(state).closed and due <= now
        ),
        **await _incident_figures(uow),
        by_channel=await uow.customers.count_by_identity(_APPS),
    )


async def _incident_figures(uow: UnitOfWork) -> dict[str, int]:
    """Incidents, those whose customers were all told, and those told on time."""
    incidents = await uow.incidents.newest(limit=1000)
    told = on_time = 0
    for incident in incidents:
        clocks = [
            c
            for c in (await incident_view(incident, uow)).clocks
            if c.audience is Audience.INDIVIDUALS and c.applies
        ]
        if clocks and all(c.done_at is not None for c in clocks):
            told += 1
            on_time += all(c.met for c in clocks)
    return {"incidents": len(incidents), "incidents_notified": told, "incidents_on_time": on_time}


def _month_bounds(now: datetime, months: int) -> list[tuple[str, datetime]]:
    """(label, end) for the last ``months`` months; the current month ends now."""
    bounds: list[tuple[str, datetime]] = []
    year, month = now.year, now.month
    end = now
    for _ in range(months):
        bounds.append((f"{year:04d}-{month:02d}", end))
        end = datetime(year, month, 1, tzinfo=UTC)
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return bounds[::-1]


def _consent_series(
    ledger: list[LedgerRow],
    created: list[datetime],
    bounds: list[tuple[str, datetime]],
    purposes: list[str],
) -> dict[str, list[RatePoint]]:
    """Walk the ledger once; at each month's end, count the customers whose latest says given.

    The ledger's raw "given", not "in force": which notice was in force at a past
    month's end is not recorded, so the rate counts the decisions as they were made.
    """
    latest: dict[tuple[str, str], str] = {}
    series: dict[str, list[RatePoint]] = {p: [] for p in purposes}
    i = 0
    for label, end in bounds:
        while i < len(ledger) and ledger[i][3] <= end:
            ref, purpose, decision, _ = ledger[i]
            latest[(ref, purpose)] = decision
            i += 1
        customers = sum(1 for at in created if at <= end)
        given = Counter(p for (_, p), d in latest.items() if d == ConsentDecision.GIVEN)
        for purpose in purposes:
            series[purpose].append(RatePoint(label, given.get(purpose, 0), customers))
    return series
