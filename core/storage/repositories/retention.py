"""Storage for the retention sweep: find what is past its time, then remove exactly that.

``find_*`` methods are the sweep's plan (a dry run shows them as they are);
``remove_*`` methods repeat the age condition next to the ids, so a row that
became fresh between planning and removing (a customer came back) is kept.
Nothing here commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

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

    async def remove_answers(self, ids: Sequence[int], before: datetime) -> int:
        result = await self._session.execute(
            delete(SurveyAnswerRow).where(
                SurveyAnswerRow.id.in_(ids), SurveyAnswerRow.answered_at < before
            )
        )
        return _count(result)

    async def pseudonymise_purchases(
        self, ids: Sequence[int], before: datetime, leaving: str | None
    ) -> int:
        """Keep order id, date, total and currency (legal hold); drop items and the link.

        Only rows past ``before``, or of the customer ``leaving`` (being deleted now).
        """
        aged = PurchaseRow.purchased_at < before
        result = await self._session.execute(
            update(PurchaseRow)
            .where(
                PurchaseRow.id.in_(ids),
                aged if leaving is None else or_(aged, PurchaseRow.customer_ref == leaving),
                or_(PurchaseRow.items_enc.is_not(None), PurchaseRow.customer_ref.is_not(None)),
            )
            .values(items_enc=None, customer_ref=None)
        )
        return _count(result)

    async def remove_purchases(
        self, ids: Sequence[int], before: datetime, leaving: str | None
    ) -> int:
        aged = PurchaseRow.purchased_at < before
        result = await self._session.execute(
            delete(PurchaseRow).where(
                PurchaseRow.id.in_(ids),
                aged if leaving is None else or_(aged, PurchaseRow.customer_ref == leaving),
            )
        )
        return _count(result)

    async def remove_conversations(self, refs: Sequence[str], before: datetime) -> int:
        result = await self._session.execute(
            delete(ConversationRow).where(
                ConversationRow.customer_ref.in_(refs), ConversationRow.updated_at < before
            )
        )
        return _count(result)

    async def remove_followups(self, order_ids: Sequence[str], before: datetime) -> int:
        result = await self._session.execute(
            delete(FollowupRow).where(
                FollowupRow.order_id.in_(order_ids),
                FollowupRow.updated_at < before,
                FollowupRow.state.in_(FINAL_FOLLOWUP_STATES),
            )
        )
        return _count(result)

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
