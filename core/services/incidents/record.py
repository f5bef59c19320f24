"""Use cases: record a personal-data breach and follow it to its close.

open -> assessed (risk, measures) -> notified (the affected customers' notices
queued; core/services/incidents/notices.py) -> closed. Only holders of
``incident.manage`` (or the server's CLI) may act; every step and every refusal is
audited, never with the staff's summary (it may hold anything; it is kept
encrypted under the incident's own key and shown to staff only).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from core.domain.actor import Actor
from core.domain.categories import DataCategory
from core.domain.incident import (
    BreachClock,
    Incident,
    IncidentState,
    Measure,
    Risk,
    breach_clocks,
)
from core.domain.policy import Permission
from core.errors import InvalidInput, PrivacyError
from core.ids import new_ref
from core.services._common import refuse
from core.services.desk.queue import permit
from core.storage import UnitOfWork
from core.storage.repositories.incidents import NoticeTally

__all__ = [
    "MAX_SUMMARY",
    "AssessIncident",
    "CloseIncident",
    "IncidentView",
    "OpenIncident",
    "TellAuthority",
    "ViewIncident",
    "assess_incident",
    "close_incident",
    "incident_actor",
    "incident_view",
    "list_incidents",
    "open_incident",
    "tell_authority",
    "view_incident",
]

MAX_SUMMARY = 2000


async def incident_actor(by: int | None, action: str, uow: UnitOfWork) -> Actor:
    return await permit(by, Permission.INCIDENT_MANAGE, action, uow)


@dataclass(frozen=True)
class OpenIncident:
    by: int | None
    aware_at: datetime
    categories: tuple[str, ...]
    summary: str
    held_from: datetime | None = None
    held_until: datetime | None = None


async def open_incident(cmd: OpenIncident, uow: UnitOfWork) -> Incident:
    actor = await incident_actor(cmd.by, "incident.opened", uow)
    try:
        incident = Incident(
            ref=new_ref("i"),
            aware_at=cmd.aware_at,
            opened_at=uow.now(),
            categories=_categories(cmd.categories),
            summary=_summary(cmd.summary),
            held_from=cmd.held_from,
            held_until=cmd.held_until,
        )
    except PrivacyError as error:
        await refuse(uow, actor, "incident.opened", error, subject_ref=None)
    incident.history.append((incident.opened_at, IncidentState.OPEN, "opened"))
    await uow.incidents.add(incident)
    await uow.record(
        actor,
        "incident.opened",
        subject_ref=None,
        details={
            "incident": incident.ref,
            "aware_at": incident.aware_at.isoformat(),
            "categories": list(incident.categories),
            "all_customers": incident.all_customers,
        },
    )
    return incident


def _categories(names: tuple[str, ...]) -> tuple[str, ...]:
    known = [c.value for c in DataCategory]
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise InvalidInput(
            f"data categories are {', '.join(known)}; got {', '.join(unknown) or 'none'}",
            code="bad_categories",
        )
    return tuple(dict.fromkeys(names))


def _summary(text: str) -> str:
    summary = " ".join(text.split())
    if not summary or len(summary) > MAX_SUMMARY:
        raise InvalidInput(
            f"say what happened in 1 to {MAX_SUMMARY} characters", code="bad_summary"
        )
    return summary


@dataclass(frozen=True)
class AssessIncident:
    by: int | None
    incident_ref: str
    risk: str
    measures: tuple[str, ...]


async def assess_incident(cmd: AssessIncident, uow: UnitOfWork) -> Incident:
    actor = await incident_actor(cmd.by, "incident.assessed", uow)
    incident = await uow.incidents.get(cmd.incident_ref, lock=True)
    try:
        risk = _choice(Risk, cmd.risk, "risk")
        measures = tuple(_choice(Measure, m, "measure") for m in dict.fromkeys(cmd.measures))
        incident.assess(risk, measures, uow.now())
    except PrivacyError as error:
        await refuse(uow, actor, "incident.assessed", error, subject_ref=None)
    await uow.incidents.save(incident)
    await uow.record(
        actor,
        "incident.assessed",
        subject_ref=None,
        details={"incident": incident.ref, "risk": risk.value, "measures": list(cmd.measures)},
    )
    return incident


E = TypeVar("E", Risk, Measure)


def _choice(kind: type[E], value: str, what: str) -> E:
    try:
        return kind(value)
    except ValueError:
        known = ", ".join(k.value for k in kind)
        raise InvalidInput(
            f"a {what} is one of {known}; got {value!r}", code="bad_assessment"
        ) from None


@dataclass(frozen=True)
class TellAuthority:
    by: int | None
    incident_ref: str
    at: datetime


async def tell_authority(cmd: TellAuthority, uow: UnitOfWork) -> Incident:
    """Record when the shop told the authority (it does so itself, with the report)."""
    actor = await incident_actor(cmd.by, "incident.authority_told", uow)
    incident = await uow.incidents.get(cmd.incident_ref, lock=True)
    try:
        incident.told_authority(min(cmd.at, uow.now()))
    except PrivacyError as error:
        await refuse(uow, actor, "incident.authority_told", error, subject_ref=None)
    await uow.incidents.save(incident)
    details = {"incident": incident.ref, "at": cmd.at.isoformat()}
    await uow.record(actor, "incident.authority_told", subject_ref=None, details=details)
    return incident


@dataclass(frozen=True)
class CloseIncident:
    by: int | None
    incident_ref: str


async def close_incident(cmd: CloseIncident, uow: UnitOfWork) -> Incident:
    actor = await incident_actor(cmd.by, "incident.closed", uow)
    incident = await uow.incidents.get(cmd.incident_ref, lock=True)
    try:
        incident.move_to(IncidentState.CLOSED, uow.now(), "closed")
    except PrivacyError as error:
        await refuse(uow, actor, "incident.closed", error, subject_ref=None)
    await uow.incidents.save(incident)
    await uow.record(actor, "incident.closed", subject_ref=None, details={"incident": incident.ref})
    return incident


@dataclass(frozen=True)
class ViewIncident:
    by: int | None
    incident_ref: str


@dataclass(frozen=True)
class IncidentView:
    incident: Incident
    affected: Counter[tuple[str, str]]  # (regime, language) -> customers held now
    erased: Counter[str]  # regime -> customers erased since (counted, not messaged)
    notices: NoticeTally  # (state, regime, language) -> customers
    clocks: list[BreachClock]

    @property
    def by_regime(self) -> Counter[str]:
        counts: Counter[str] = Counter(self.erased)
        for (regime, _), n in self.affected.items():
            counts[regime] += n
        return counts

    @property
    def by_language(self) -> Counter[str]:
        counts: Counter[str] = Counter()
        for (_, language), n in self.affected.items():
            counts[language] += n
        return counts

    def told(self, state: str) -> int:
        return sum(n for (s, _, _), n in self.notices.items() if s == state)


async def view_incident(cmd: ViewIncident, uow: UnitOfWork) -> IncidentView:
    await incident_actor(cmd.by, "desk.incident", uow)
    incident = await uow.incidents.get(cmd.incident_ref)
    return await incident_view(incident, uow)


async def incident_view(incident: Incident, uow: UnitOfWork) -> IncidentView:
    """The incident with its counts and clocks (after notifying, as the notices went)."""
    notices = await uow.incidents.tally(incident.ref)
    if notices:
        affected: Counter[tuple[str, str]] = Counter()
        for (state, regime, language), n in notices.items():
            if state != "erased":
                affected[(regime, language)] += n
    else:
        affected = await uow.incidents.affected_counts(incident)
    erased = await uow.incidents.erased_since(incident)
    view = IncidentView(incident, affected, erased, notices, [])
    waiting = view.told("queued") + view.told("sending")
    told_at = None if waiting or not notices else await uow.incidents.last_notice_at(incident.ref)
    clocks = breach_clocks(incident, view.by_regime, uow.policy.jurisdictions, told_at)
    return IncidentView(incident, affected, erased, notices, clocks)


async def list_incidents(by: int | None, uow: UnitOfWork) -> list[Incident]:
    await incident_actor(by, "desk.incidents", uow)
    return await uow.incidents.newest()
