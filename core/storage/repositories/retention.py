"""Storage for the retention sweep: count what is past its time, then remove exactly that.

The plan (``*_per_subject``, ``inactive_customers``, ...) is one grouped query per
kind of record: how many rows of each subject (customer ref, or purchase pseudonym
once the link is gone) are past their time. The removal takes a batch of subjects
and repeats the plan's conditions with the plan's cut-offs, one statement per kind
for the whole batch, and answers how many rows of each subject it really touched;
so a row that became fresh between planning and removing (a customer came back)
is kept, and the counts audited are the counts removed. Nothing here commits.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Table,
    and_,
    delete,
    exists,
    func,
    not_,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from core.storage.tables import (
    AgentRequestRow,
    Base,
    ConversationRow,
    CustomerRow,
    DataRequestRow,
    FollowupRow,
    JobRow,
    NonceRow,
    PurchaseRow,
    RequestAnswerRow,
    SeenMessageRow,
    SurveyAnswerRow,
)

_CHUNK = 1000

__all__ = ["FINAL_FOLLOWUP_STATES", "PurchaseCutoffs", "RetentionRepository"]

FINAL_FOLLOWUP_STATES = ("sent", "suppressed", "failed", "uncertain")
_FINISHED_REQUEST_STATES = ("completed", "rejected", "cancelled")
_FINISHED_JOB_STATES = ("done", "failed")


def _table(entity: type[Base]) -> Table:
    table = entity.__table__
    assert isinstance(table, Table)
    return table


# Core tables, not ORM entities: the sweep's statements need no identity map.
_PURCHASES = _table(PurchaseRow)
_ANSWERS = _table(SurveyAnswerRow)
_TALKS = _table(ConversationRow)
_FOLLOWUPS = _table(FollowupRow)
_REQUESTS = _table(DataRequestRow)
_purchases, _answers, _talks, _followups = _PURCHASES.c, _ANSWERS.c, _TALKS.c, _FOLLOWUPS.c
_requests = _REQUESTS.c


@dataclass(frozen=True)
class PurchaseCutoffs:
    """Which purchases the sweep touches, as SQL conditions (the plan's and the removal's)."""

    transaction: datetime  # past the transaction category's retention
    legal_hold: datetime | None  # past the legal hold (None: no hold)

    def aged(self) -> ColumnElement[bool]:
        """Past the transaction category's retention."""
        return _purchases.purchased_at < self.transaction

    def past_hold(self) -> ColumnElement[bool]:
        """Deleted rather than pseudonymised (no hold: everything in scope is deleted)."""
        return true() if self.legal_hold is None else _purchases.purchased_at < self.legal_hold

    @staticmethod
    def linked() -> ColumnElement[bool]:
        """Still identifying: items or the customer link still there."""
        return or_(_purchases.items_enc.is_not(None), _purchases.customer_ref.is_not(None))


def _purchase_subject() -> ColumnElement[str]:
    """The customer ref, or the purchase pseudonym once the link is gone."""
    return func.coalesce(_purchases.customer_ref, _purchases.pseudonym)


def _purchases_of(subjects: Sequence[str]) -> ColumnElement[bool]:
    """``coalesce(customer_ref, pseudonym) IN subjects``, written so that the customer
    ref and pseudonym indexes serve it (the second branch's ``coalesce`` stands for
    ``customer_ref IS NULL``, which SQLite would otherwise look up in the customer ref
    index: every unlinked purchase, once per batch)."""
    return or_(
        _purchases.customer_ref.in_(subjects),
        and_(_purchases.pseudonym.in_(subjects), _purchase_subject().in_(subjects)),
    )


def _inactive(before: datetime) -> ColumnElement[bool]:
    """Customers idle since ``before``, unless a data request of theirs is still open."""
    open_request = exists().where(
        DataRequestRow.customer_ref == CustomerRow.ref,
        DataRequestRow.state.not_in(_FINISHED_REQUEST_STATES),
    )
    return and_(CustomerRow.last_active_at < before, ~open_request)


class RetentionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    # --- the plan -------------------------------------------------------------------

    async def inactive_customers(self, before: datetime) -> list[str]:
        """Customers idle since ``before``, unless a data request of theirs is still open."""
        rows = await self._session.scalars(
            select(CustomerRow.ref).where(_inactive(before)).order_by(CustomerRow.ref)
        )
        return list(rows)

    async def answers_per_customer(self, before: datetime) -> list[tuple[str, int]]:
        """(customer ref, survey answers older than ``before``)."""
        rows = await self._session.execute(
            select(_answers.customer_ref, func.count())
            .where(_answers.answered_at < before)
            .group_by(_answers.customer_ref)
        )
        return [(str(ref), int(n)) for ref, n in rows]

    async def purchases_per_subject(
        self, cut: PurchaseCutoffs, inactive_before: datetime
    ) -> list[tuple[str, int, int]]:
        """(subject, to delete, to pseudonymise) over the purchases past retention and
        those of customers who leave now (idle since ``inactive_before``: every
        purchase of theirs goes, deleted past the hold, else pseudonymised)."""
        leaving = select(CustomerRow.ref).where(_inactive(inactive_before))
        past_hold = cut.past_hold()
        rows = await self._session.execute(
            select(
                _purchase_subject(),
                func.count().filter(past_hold),
                func.count().filter(not_(past_hold), cut.linked()),
            )
            .where(or_(cut.aged(), _purchases.customer_ref.in_(leaving)))
            .group_by(_purchase_subject())
        )
        return [(str(s), int(d), int(p)) for s, d, p in rows]

    async def stale_conversations(self, before: datetime) -> list[str]:
        rows = await self._session.scalars(
            select(_talks.customer_ref).where(_talks.updated_at < before)
        )
        return [str(ref) for ref in rows]

    async def followups_per_customer(self, before: datetime) -> list[tuple[str, int]]:
        """(customer ref, finished follow-ups last changed before ``before``)."""
        rows = await self._session.execute(
            select(_followups.customer_ref, func.count())
            .where(_followups.updated_at < before, _followups.state.in_(FINAL_FOLLOWUP_STATES))
            .group_by(_followups.customer_ref)
        )
        return [(str(ref), int(n)) for ref, n in rows]

    async def closed_requests_per_subject(self, before: datetime) -> list[tuple[str, int]]:
        """(customer ref, requests closed before ``before``): kept as proof until then."""
        rows = await self._session.execute(
            select(_requests.customer_ref, func.count())
            .where(_requests.closed_at < before, _requests.state.in_(_FINISHED_REQUEST_STATES))
            .group_by(_requests.customer_ref)
        )
        return [(str(ref), int(n)) for ref, n in rows]

    async def finished_jobs(self, before: datetime) -> int:
        return await self._count(
            select(func.count())
            .select_from(JobRow)
            .where(JobRow.state.in_(_FINISHED_JOB_STATES), JobRow.finished_at < before)
        )

    async def old_agent_requests(self, closed_before: datetime) -> int:
        return await self._count(
            select(func.count())
            .select_from(AgentRequestRow)
            .where(AgentRequestRow.closed_at < closed_before)
        )

    async def old_seen_messages(self, before: datetime) -> int:
        return await self._count(
            select(func.count()).select_from(SeenMessageRow).where(SeenMessageRow.seen_at < before)
        )

    async def old_signatures(self, before: datetime) -> int:
        return await self._count(
            select(func.count()).select_from(NonceRow).where(NonceRow.seen_at < before)
        )

    async def _count(self, statement: Any) -> int:
        return int(await self._session.scalar(statement) or 0)

    # --- the removal: a batch of subjects, one statement per kind ---------------------

    async def still_inactive(self, ref: str, before: datetime) -> bool:
        """Locks the customer row: a customer who came back since planning stays."""
        found = await self._session.scalar(
            select(CustomerRow.ref)
            .where(CustomerRow.ref == ref, CustomerRow.last_active_at < before)
            .with_for_update()
        )
        return found is not None

    async def remove_customer(self, ref: str, before: datetime) -> int:
        """Delete the customer row (identities, consents, answers, state cascade)."""
        result = await self._session.execute(
            delete(CustomerRow).where(CustomerRow.ref == ref, CustomerRow.last_active_at < before)
        )
        return _count(result)

    async def remove_answers(self, refs: Sequence[str], before: datetime) -> Counter[str]:
        """Survey answers of ``refs`` still older than ``before``, removed; per customer."""
        return await self._removed(
            _ANSWERS,
            and_(_answers.customer_ref.in_(refs), _answers.answered_at < before),
            _answers.customer_ref,
        )

    async def remove_purchases(self, subjects: Sequence[str], cut: PurchaseCutoffs) -> Counter[str]:
        """Purchases of ``subjects`` past retention and past the hold, deleted; per subject."""
        return await self._removed(
            _PURCHASES,
            and_(_purchases_of(subjects), cut.aged(), cut.past_hold()),
            _purchase_subject(),
        )

    async def pseudonymise_purchases(
        self, subjects: Sequence[str], cut: PurchaseCutoffs
    ) -> Counter[str]:
        """Keep order id, date, total and currency (legal hold); drop items and the link.

        Purchases of ``subjects`` past retention but within the hold, still linked.
        """
        return await self._pseudonymise(
            and_(_purchases_of(subjects), cut.aged(), not_(cut.past_hold()), cut.linked())
        )

    async def remove_leavers_purchases(self, ref: str, cut: PurchaseCutoffs) -> tuple[int, int]:
        """Every purchase of a customer being deleted now: (deleted past the hold,
        pseudonymised otherwise), whatever its age."""
        deleted = await self._session.execute(
            delete(_PURCHASES).where(_purchases.customer_ref == ref, cut.past_hold())
        )
        pseudonymised = await self._pseudonymise(_purchases.customer_ref == ref)
        return _count(deleted), sum(pseudonymised.values())

    async def _pseudonymise(self, which: ColumnElement[bool]) -> Counter[str]:
        # The subject is the customer ref, which the update clears, so RETURNING
        # cannot name it: lock the rows, count them per subject, then update them.
        rows = (
            await self._session.execute(
                select(_purchases.id, _purchase_subject()).where(which).with_for_update()
            )
        ).all()
        ids = [int(i) for i, _ in rows]
        for start in range(0, len(ids), _CHUNK):
            await self._session.execute(
                update(_PURCHASES)
                .where(_purchases.id.in_(ids[start : start + _CHUNK]))
                .values(items_enc=None, customer_ref=None)
            )
        return Counter(str(subject) for _, subject in rows)

    async def remove_conversations(self, refs: Sequence[str], before: datetime) -> Counter[str]:
        return await self._removed(
            _TALKS,
            and_(_talks.customer_ref.in_(refs), _talks.updated_at < before),
            _talks.customer_ref,
        )

    async def remove_followups(self, refs: Sequence[str], before: datetime) -> Counter[str]:
        return await self._removed(
            _FOLLOWUPS,
            and_(
                _followups.customer_ref.in_(refs),
                _followups.updated_at < before,
                _followups.state.in_(FINAL_FOLLOWUP_STATES),
            ),
            _followups.customer_ref,
        )

    async def remove_requests(self, refs: Sequence[str], before: datetime) -> Counter[str]:
        """Closed request records past keeping, with the customer's answers to them."""
        closed = select(_requests.ref).where(
            _requests.customer_ref.in_(refs),
            _requests.closed_at < before,
            _requests.state.in_(_FINISHED_REQUEST_STATES),
        )
        await self._session.execute(
            delete(RequestAnswerRow).where(RequestAnswerRow.request_ref.in_(closed))
        )
        return await self._removed(
            _REQUESTS,
            and_(
                _requests.customer_ref.in_(refs),
                _requests.closed_at < before,
                _requests.state.in_(_FINISHED_REQUEST_STATES),
            ),
            _requests.customer_ref,
        )

    async def _removed(
        self, table: Table, which: ColumnElement[bool], subject: ColumnElement[str]
    ) -> Counter[str]:
        """Delete ``which`` rows of ``table``; how many it removed per subject.

        PostgreSQL counts in the same statement (a data-modifying CTE), so only one
        row per subject comes back. SQLite cannot: it counts first, then deletes;
        nothing can change in between, since every SQLite transaction here holds the
        write lock from its start (``BEGIN IMMEDIATE``, see ``core.storage.database``).
        """
        statement = delete(table).where(which)
        if self._session.get_bind().dialect.name == "postgresql":
            removed = statement.returning(subject.label("subject")).cte("removed")
            rows = await self._session.execute(
                select(removed.c.subject, func.count()).group_by(removed.c.subject)
            )
            return Counter({str(s): int(n) for s, n in rows})
        counted = await self._session.execute(
            select(subject, func.count()).where(which).group_by(subject)
        )
        counts = Counter({str(s): int(n) for s, n in counted})
        removed_rows = _count(await self._session.execute(statement))
        if removed_rows != counts.total():
            raise RuntimeError("retention: rows changed under the write lock")
        return counts

    # --- housekeeping (no personal data) ----------------------------------------------

    async def remove_jobs(self, before: datetime) -> int:
        result = await self._session.execute(
            delete(JobRow).where(
                JobRow.state.in_(_FINISHED_JOB_STATES), JobRow.finished_at < before
            )
        )
        return _count(result)

    async def remove_agent_requests(self, closed_before: datetime) -> int:
        result = await self._session.execute(
            delete(AgentRequestRow).where(AgentRequestRow.closed_at < closed_before)
        )
        return _count(result)

    async def remove_seen_messages(self, before: datetime) -> int:
        result = await self._session.execute(
            delete(SeenMessageRow).where(SeenMessageRow.seen_at < before)
        )
        return _count(result)

    async def remove_signatures(self, before: datetime) -> int:
        result = await self._session.execute(delete(NonceRow).where(NonceRow.seen_at < before))
        return _count(result)

    async def count_rows(self) -> int:
        """Customers held (for the summary)."""
        return int(await self._session.scalar(select(func.count()).select_from(CustomerRow)) or 0)


def _count(result: object) -> int:
    return int(getattr(result, "rowcount", 0) or 0)
