"""What the shop holds about a customer: counts and first dates, never values.

The inventory behind an access request's summary (core/services/rights/export.py):
one read-only query per table the customer's records live in. No data key is
touched and nothing here writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.storage.tables import (
    ConsentRow,
    ConversationRow,
    IdentityRow,
    PurchaseRow,
    SurveyAnswerRow,
)

__all__ = ["Holdings", "HoldingsRepository"]


@dataclass(frozen=True)
class Holdings:
    """How much of each kind of record the shop holds, and since when (no values)."""

    identities: int
    purchases: int
    first_purchase: datetime | None
    answers: int
    first_answer: datetime | None
    consents: int
    first_consent: datetime | None
    has_conversation: bool


class HoldingsRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def of(self, customer_ref: str) -> Holdings:
        purchases, first_purchase = await self._count(
            PurchaseRow, PurchaseRow.purchased_at, ref=customer_ref
        )
        answers, first_answer = await self._count(
            SurveyAnswerRow, SurveyAnswerRow.answered_at, ref=customer_ref
        )
        consents, first_consent = await self._count(
            ConsentRow, ConsentRow.decided_at, ref=customer_ref
        )
        identities = await self._session.scalar(
            select(func.count())
            .select_from(IdentityRow)
            .where(IdentityRow.customer_ref == customer_ref)
        )
        conversation = await self._session.get(ConversationRow, customer_ref)
        return Holdings(
            identities=int(identities or 0),
            purchases=purchases,
            first_purchase=first_purchase,
            answers=answers,
            first_answer=first_answer,
            consents=consents,
            first_consent=first_consent,
            has_conversation=conversation is not None,
        )

    async def _count(
        self, table: type[PurchaseRow | SurveyAnswerRow | ConsentRow], at: object, *, ref: str
    ) -> tuple[int, datetime | None]:
        row = (
            await self._session.execute(
                select(func.count(), func.min(at)).where(table.customer_ref == ref)
            )
        ).one()
        first = row[1]
        if isinstance(first, datetime) and first.tzinfo is None:
            # func.min bypasses the column type on SQLite; the value is stored as UTC.
            first = first.replace(tzinfo=UTC)
        return int(row[0] or 0), first if isinstance(first, datetime) else None
