"""The consent ledger: appended to, never updated."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.domain.consent import ConsentDecision, ConsentEntry, current_consents
from core.storage.tables import ConsentRow

__all__ = ["ConsentRepository"]


class ConsentRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def append(self, entry: ConsentEntry) -> None:
        self._session.add(
            ConsentRow(
                ref=entry.ref,
                customer_ref=entry.customer_ref,
                purpose=entry.purpose,
                decision=entry.decision.value,
                notice_version=entry.notice_version,
                channel=entry.channel,
                decided_at=entry.decided_at,
            )
        )
        await self._session.flush()

    async def history(self, customer_ref: str) -> list[ConsentEntry]:
        rows = await self._session.scalars(
            select(ConsentRow)
            .where(ConsentRow.customer_ref == customer_ref)
            .order_by(ConsentRow.decided_at, ConsentRow.ref)
        )
        return [
            ConsentEntry(
                ref=r.ref,
                customer_ref=r.customer_ref,
                purpose=r.purpose,
                decision=ConsentDecision(r.decision),
                notice_version=r.notice_version,
                channel=r.channel,
                decided_at=r.decided_at,
            )
            for r in rows
        ]

    async def current(self, customer_ref: str) -> dict[str, ConsentEntry]:
        return current_consents(await self.history(customer_ref))
