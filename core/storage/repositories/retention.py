"""Storage for the retention sweep: find what is past its time, then remove exactly that.

``find_*`` methods are the sweep's plan (a dry run shows them as they are);
``remove_*`` methods repeat the age condition next to the ids, so a row that
became fresh between planning and removing (a customer came back) is kept.
Nothing here commits.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TypeVar

from sqlalchemy import delete, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Executable

from core.storage.tables import (
    ConversationRow,
    CustomerRow,
    DataRequestRow,
    JobRow,
    NonceRow,
    PurchaseRow,
    SurveyAnswerRow,
)
from core.storage.tables_followups import FollowupRow

_Key = TypeVar("_Key", int, str)
_CHUNK = 1000

__all__ = ["FINAL_FOLLOWUP_STATES", "RetentionRepository"]

FINAL_FOLLOWUP_STATES = ("sent", "suppressed", "failed", "uncertain")
_OPEN_REQUEST_STATES = ("completed", "rejected")


class RetentionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    # --- the plan -------------------------------------------------------------------

    async def inactive_customers(self, before: datetime) -> list[str]:
        """Customers idle since ``before``, unless a data request of theirs is still open."""
        open_request = exists().where(
            DataRequestRow.customer_ref == CustomerRow.ref,
            DataRequestRow.state.not_in(_OPEN_REQUEST_STATES),
        )
        rows = await self._session.scalars(
            select(CustomerRow.ref)
            .where(CustomerRow.last_active_at < before, ~open_request)
            .order_by(CustomerRow.ref)
        )
        return list(rows)

    async def expired_answers(self, before: datetime) -> list[tuple[int, str]]:
        rows = await self._session.execute(
            select(SurveyAnswerRow.id, SurveyAnswerRow.customer_ref)
            .where(SurveyAnswerRow.answered_at < before)
            .order_by(SurveyAnswerRow.id)
        )
        return [(int(i), str(ref)) for i, ref in rows]

    async def purchases_past(
        self, before: datetime, owners: Sequence[str] = ()
    ) -> list[tuple[int, str, datetime, bool]]:
        """(id, subject, purchased_at, still identifying) of purchases older than
        ``before`` or owned by ``owners``; the subject is the customer ref, or the
        purchase pseudonym once the link is gone."""
        rows = await self._session.execute(
            select(
                PurchaseRow.id,
                PurchaseRow.customer_ref,
                PurchaseRow.pseudonym,
                PurchaseRow.purchased_at,
                PurchaseRow.items_enc.is_not(None) | PurchaseRow.customer_ref.is_not(None),
            )
            .where(or_(PurchaseRow.purchased_at < before, PurchaseRow.customer_ref.in_(owners)))
            .order_by(PurchaseRow.id)
        )
        return [
            (int(i), str(ref or pseudo), at, bool(linked)) for i, ref, pseudo, at, linked in rows
        ]

    async def stale_conversations(self, before: datetime) -> list[str]:
        rows = await self._session.scalars(
            select(ConversationRow.customer_ref)
            .where(ConversationRow.updated_at < before)
            .order_by(ConversationRow.customer_ref)
        )
        return list(rows)

    async def old_followups(self, before: datetime) -> list[tuple[str, str]]:
        rows = await self._session.execute(
            select(FollowupRow.order_id, FollowupRow.customer_ref)
            .where(FollowupRow.updated_at < before, FollowupRow.state.in_(FINAL_FOLLOWUP_STATES))
            .order_by(FollowupRow.order_id)
        )
        return [(str(o), str(ref)) for o, ref in rows]

    async def finished_jobs(self, before: datetime) -> list[int]:
        rows = await self._session.scalars(
            select(JobRow.id)
            .where(JobRow.state.in_(("done", "failed")), JobRow.finished_at < before)
            .order_by(JobRow.id)
        )
        return [int(i) for i in rows]

    async def old_signatures(self, before: datetime) -> list[str]:
        rows = await self._session.scalars(
            select(NonceRow.digest).where(NonceRow.seen_at < before).order_by(NonceRow.digest)
        )
        return list(rows)

    # --- the removal ----------------------------------------------------------------

    async def remove_customer(self, ref: str, before: datetime) -> int:
        """Delete the customer row (identities, consents, answers, state cascade)."""
        result = await self._session.execute(
            delete(CustomerRow).where(CustomerRow.ref == ref, CustomerRow.last_active_at < before)
        )
        return _count(result)

    async def still_inactive(self, ref: str, before: datetime) -> bool:
        found = await self._session.scalar(
            select(CustomerRow.ref)
            .where(CustomerRow.ref == ref, CustomerRow.last_active_at < before)
            .with_for_update()
        )
        return found is not None

    async def remove_answers(self, ids: Sequence[int], before: datetime) -> list[int]:
        """The ids really removed (a row answered again since planning stays)."""
        return await self._chunked(
            ids,
            lambda part: (
                delete(SurveyAnswerRow)
                .where(SurveyAnswerRow.id.in_(part), SurveyAnswerRow.answered_at < before)
                .returning(SurveyAnswerRow.id)
            ),
        )

    async def pseudonymise_purchases(
        self, ids: Sequence[int], before: datetime, leaving: str | None
    ) -> list[int]:
        """Keep order id, date, total and currency (legal hold); drop items and the link.

        Only rows past ``before``, or of the customer ``leaving`` (being deleted now).
        """
        aged = PurchaseRow.purchased_at < before
        return await self._chunked(
            ids,
            lambda part: (
                update(PurchaseRow)
                .where(
                    PurchaseRow.id.in_(part),
                    aged if leaving is None else or_(aged, PurchaseRow.customer_ref == leaving),
                    or_(PurchaseRow.items_enc.is_not(None), PurchaseRow.customer_ref.is_not(None)),
                )
                .values(items_enc=None, customer_ref=None)
                .returning(PurchaseRow.id)
            ),
        )

    async def remove_purchases(
        self, ids: Sequence[int], before: datetime, leaving: str | None
    ) -> list[int]:
        aged = PurchaseRow.purchased_at < before
        return await self._chunked(
            ids,
            lambda part: (
                delete(PurchaseRow)
                .where(
                    PurchaseRow.id.in_(part),
                    aged if leaving is None else or_(aged, PurchaseRow.customer_ref == leaving),
                )
                .returning(PurchaseRow.id)
            ),
        )

    async def remove_conversations(self, refs: Sequence[str], before: datetime) -> list[str]:
        return await self._chunked(
            refs,
            lambda part: (
                delete(ConversationRow)
                .where(ConversationRow.customer_ref.in_(part), ConversationRow.updated_at < before)
                .returning(ConversationRow.customer_ref)
            ),
        )

    async def remove_followups(self, order_ids: Sequence[str], before: datetime) -> list[str]:
        return await self._chunked(
            order_ids,
            lambda part: (
                delete(FollowupRow)
                .where(
                    FollowupRow.order_id.in_(part),
                    FollowupRow.updated_at < before,
                    FollowupRow.state.in_(FINAL_FOLLOWUP_STATES),
                )
                .returning(FollowupRow.order_id)
            ),
        )

    async def _chunked(
        self, keys: Sequence[_Key], statement: Callable[[Sequence[_Key]], Executable]
    ) -> list[_Key]:
        """Run a statement over the keys in chunks (PostgreSQL takes at most 32,767
        parameters); each statement returns the keys it really touched."""
        touched: list[_Key] = []
        for start in range(0, len(keys), _CHUNK):
            result = await self._session.execute(statement(keys[start : start + _CHUNK]))
            touched.extend(result.scalars())
        return touched

    async def remove_jobs(self, ids: Sequence[int]) -> int:
        result = await self._session.execute(
            delete(JobRow).where(JobRow.id.in_(ids), JobRow.state.in_(("done", "failed")))
        )
        return _count(result)

    async def remove_signatures(self, digests: Sequence[str], before: datetime) -> int:
        result = await self._session.execute(
            delete(NonceRow).where(NonceRow.digest.in_(digests), NonceRow.seen_at < before)
        )
        return _count(result)

    async def count_rows(self) -> int:
        """Customers held (for the summary)."""
        return int(await self._session.scalar(select(func.count()).select_from(CustomerRow)) or 0)


def _count(result: object) -> int:
    return int(getattr(result, "rowcount", 0) or 0)
