"""A data subject's records read or moved as a whole, beyond one customer's aggregate.

What the data rights and the desk's statistics need from the customer, identity,
consent and conversation tables: the inventory of what is held (counts and first
dates, never values), the blind indexes of a customer's identities (for the
suppression list), a merge's hand-over of identities and consents, and the facts
the statistics count (decisions, dates; no personal field, so no data key is
touched). Nothing here commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.storage.tables import (
    ConsentRow,
    ConversationRow,
    CustomerRow,
    IdentityRow,
    PurchaseRow,
    SurveyAnswerRow,
)

__all__ = ["Holdings", "LedgerRow", "SubjectRepository"]

LedgerRow = tuple[str, str, str, datetime]  # customer ref, purpose, decision, decided at


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


class SubjectRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    # --- what the shop holds -------------------------------------------------------

    async def holdings(self, customer_ref: str) -> Holdings:
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

    # --- identities and consents, beyond the customer aggregate -------------------

    async def identity_blinds(self, customer_ref: str) -> list[tuple[str, str]]:
        """The (kind, blind index) of each of the customer's identities."""
        rows = await self._session.execute(
            select(IdentityRow.kind, IdentityRow.blind).where(
                IdentityRow.customer_ref == customer_ref
            )
        )
        return [(str(kind), str(blind)) for kind, blind in rows]

    async def reassign_consents(self, source: str, target: str) -> None:
        """A merge: the source customer's consent ledger becomes the target's."""
        await self._session.execute(
            update(ConsentRow).where(ConsentRow.customer_ref == source).values(customer_ref=target)
        )

    async def drop_identities(self, customer_ref: str) -> None:
        await self._session.execute(
            delete(IdentityRow).where(IdentityRow.customer_ref == customer_ref)
        )

    # --- what the desk's statistics count -------------------------------------------

    async def consent_ledger(self, purposes: list[str]) -> list[LedgerRow]:
        rows = await self._session.execute(
            select(
                ConsentRow.customer_ref,
                ConsentRow.purpose,
                ConsentRow.decision,
                ConsentRow.decided_at,
            )
            .where(ConsentRow.purpose.in_(purposes))
            .order_by(ConsentRow.decided_at, ConsentRow.ref)
        )
        return [(r[0], r[1], r[2], r[3]) for r in rows]

    async def customers_created(self) -> list[datetime]:
        return list(await self._session.scalars(select(CustomerRow.created_at)))
