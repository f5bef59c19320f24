"""Incidents (the staff summary encrypted under the incident's own key), who they
affect, and the notice each affected customer gets."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, exists, func, insert, or_, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.domain.incident import Incident, IncidentState, Measure, Risk
from core.domain.requests import RequestKind, RequestState
from core.errors import NotFound
from core.storage.repositories.keys import DataKeys
from core.storage.tables import (
    ConversationRow,
    CustomerRow,
    DataRequestRow,
    FollowupRow,
    IncidentNoticeRow,
    IncidentRow,
    PurchaseRow,
    SurveyAnswerRow,
)

__all__ = ["Affected", "IncidentRepository", "NoticeTally"]

_SUMMARY = "incident.summary"


@dataclass(frozen=True)
class Affected:
    customer_ref: str
    jurisdiction: str
    language: str


NoticeTally = Counter[tuple[str, str, str]]  # (state, jurisdiction, language) -> customers


class IncidentRepository:
    def __init__(self, session: AsyncSession, keys: DataKeys, default_jurisdiction: str) -> None:
        self._session = session
        self._keys = keys
        self._default = default_jurisdiction

    async def add(self, incident: Incident) -> None:
        cipher = await self._keys.create(incident.ref)
        blob = cipher.encrypt(_SUMMARY, incident.summary)
        assert blob is not None
        row = IncidentRow(ref=incident.ref, summary_enc=blob)
        self._write(row, incident)
        self._session.add(row)
        await self._session.flush()

    async def get(self, ref: str, *, lock: bool = False, summary: bool = True) -> Incident:
        """``summary=False``: without the staff's text (no key is read; for notices)."""
        row = await self._session.get(IncidentRow, ref, with_for_update=lock)
        if row is None:
            raise NotFound("no such incident", code="no_incident")
        return await self._read(row, summary=summary)

    async def save(self, incident: Incident) -> None:
        row = await self._session.get(IncidentRow, incident.ref)
        assert row is not None
        self._write(row, incident)
        await self._session.flush()

    async def newest(self, limit: int = 20) -> list[Incident]:
        rows = await self._session.scalars(
            select(IncidentRow).order_by(IncidentRow.opened_at.desc()).limit(limit)
        )
        return [await self._read(row) for row in rows.all()]

    # --- who is affected ---------------------------------------------------------

    async def affected(self, incident: Incident, after: str, limit: int) -> list[Affected]:
        """A page of the customers the incident affects, by pseudonym, after ``after``."""
        c = CustomerRow
        rows = await self._session.execute(
            select(c.ref, func.coalesce(c.jurisdiction, self._default), c.language)
            .where(_affected(incident), c.ref > after)
            .order_by(c.ref)
            .limit(limit)
        )
        return [Affected(ref, regime, language) for ref, regime, language in rows]

    async def affected_counts(self, incident: Incident) -> Counter[tuple[str, str]]:
        """(regime, language) -> affected customers the shop holds now."""
        c = CustomerRow
        regime = func.coalesce(c.jurisdiction, self._default)
        rows = await self._session.execute(
            select(regime, c.language, func.count())
            .where(_affected(incident))
            .group_by(regime, c.language)
        )
        return Counter({(str(r), str(lang)): int(n) for r, lang, n in rows})

    async def held_categories(self, customer_ref: str, categories: Iterable[str]) -> list[str]:
        """Which of ``categories`` the shop holds about this customer."""
        wanted = list(categories)
        columns = [_HOLDS[c]().label(c) for c in wanted]
        row = (
            await self._session.execute(
                select(*columns).select_from(CustomerRow).where(CustomerRow.ref == customer_ref)
            )
        ).first()
        return [] if row is None else [c for c, held in zip(wanted, row, strict=True) if held]

    async def erased_since(self, incident: Incident) -> Counter[str]:
        """Per regime: customers erased since their data may have been exposed (counted,
        never messaged): erasures completed after the window opened (after awareness,
        for an incident about every customer). An upper bound: when an erased
        customer joined is no longer known, so one who joined after the window counts
        too, which errs on the side of telling the authority more."""
        r = DataRequestRow
        start = incident.held_from or incident.aware_at
        where = [
            r.kind == RequestKind.ERASURE.value,
            r.state == RequestState.COMPLETED.value,
            r.closed_at >= start,
        ]
        rows = await self._session.execute(
            select(r.jurisdiction, func.count()).where(*where).group_by(r.jurisdiction)
        )
        return Counter({str(j): int(n) for j, n in rows})

    # --- notices -----------------------------------------------------------------

    async def add_notices(self, incident_ref: str, batch: Iterable[Affected], at: datetime) -> None:
        rows = [
            {
                "incident_ref": incident_ref,
                "customer_ref": a.customer_ref,
                "jurisdiction": a.jurisdiction,
                "language": a.language,
                "state": "queued",
                "updated_at": at,
            }
            for a in batch
        ]
        if rows:
            await self._session.execute(insert(IncidentNoticeRow), rows)

    async def notice_state(self, incident_ref: str, customer_ref: str) -> str | None:
        row = await self._session.get(
            IncidentNoticeRow, (incident_ref, customer_ref), with_for_update=True
        )
        return None if row is None else row.state

    async def move_notice(
        self, incident_ref: str, customer_ref: str, state: str, at: datetime
    ) -> None:
        await self._session.execute(
            update(IncidentNoticeRow)
            .where(
                IncidentNoticeRow.incident_ref == incident_ref,
                IncidentNoticeRow.customer_ref == customer_ref,
            )
            .values(state=state, updated_at=at)
        )

    async def tally(self, incident_ref: str) -> NoticeTally:
        n = IncidentNoticeRow
        rows = await self._session.execute(
            select(n.state, n.jurisdiction, n.language, func.count())
            .where(n.incident_ref == incident_ref)
            .group_by(n.state, n.jurisdiction, n.language)
        )
        return Counter({(str(s), str(j), str(lang)): int(c) for s, j, lang, c in rows})

    async def last_notice_at(self, incident_ref: str) -> datetime | None:
        n = IncidentNoticeRow
        return await self._session.scalar(
            select(func.max(n.updated_at)).where(n.incident_ref == incident_ref, n.state == "sent")
        )

    # --- rows --------------------------------------------------------------------

    async def _read(self, row: IncidentRow, *, summary: bool = True) -> Incident:
        text = ""
        if summary:
            text = (await self._keys.cipher(row.ref)).decrypt(_SUMMARY, row.summary_enc) or ""
        return Incident(
            ref=row.ref,
            aware_at=row.aware_at,
            opened_at=row.opened_at,
            categories=tuple(row.categories),
            summary=text or "(not read)",
            held_from=row.held_from,
            held_until=row.held_until,
            risk=Risk(row.risk) if row.risk else None,
            measures=tuple(Measure(m) for m in row.measures),
            state=IncidentState(row.state),
            notified_at=row.notified_at,
            authority_told_at=row.authority_told_at,
            closed_at=row.closed_at,
            history=[
                (datetime.fromisoformat(at), IncidentState(state), note)
                for at, state, note in row.history
            ],
        )

    @staticmethod
    def _write(row: IncidentRow, i: Incident) -> None:
        row.state = i.state.value
        row.aware_at = i.aware_at
        row.opened_at = i.opened_at
        row.categories = list(i.categories)
        row.held_from = i.held_from
        row.held_until = i.held_until
        row.risk = i.risk.value if i.risk else None
        row.measures = [m.value for m in i.measures]
        row.notified_at = i.notified_at
        row.authority_told_at = i.authority_told_at
        row.closed_at = i.closed_at
        row.history = [[at.isoformat(), state.value, note] for at, state, note in i.history]


def _holds() -> dict[str, Callable[[], ColumnElement[bool]]]:
    c = CustomerRow
    return {
        "identity": lambda: true(),
        "contact": lambda: or_(
            c.phone_enc.isnot(None), c.email_enc.isnot(None), c.address_enc.isnot(None)
        ),
        "transaction": lambda: exists().where(PurchaseRow.customer_ref == c.ref),
        "preference": lambda: exists().where(SurveyAnswerRow.customer_ref == c.ref),
        "behaviour": lambda: or_(
            exists().where(ConversationRow.customer_ref == c.ref),
            exists().where(FollowupRow.customer_ref == c.ref),
        ),
    }


# What "the shop holds data of this category about the customer" means, per category.
_HOLDS = _holds()


def _affected(incident: Incident) -> ColumnElement[bool]:
    """Customers holding data of the incident's categories, held in its window."""
    where = or_(*(_HOLDS[category]() for category in incident.categories))
    if incident.held_until is not None:
        where = and_(where, CustomerRow.created_at <= incident.held_until)
    return where
