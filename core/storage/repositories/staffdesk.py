"""What the staff desk reads and keeps: staff dialog state, and counts for statistics.

The statistics queries return decisions, dates and states only; no personal field
is read, so no data key is touched.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.storage.tables import ConsentRow, CustomerRow, DataRequestRow
from core.storage.tables_staffdesk import StaffConversationRow

__all__ = ["LedgerRow", "RequestFacts", "StaffDeskRepository"]

LedgerRow = tuple[str, str, str, datetime]  # customer ref, purpose, decision, decided at
RequestFacts = tuple[str, datetime, datetime | None]  # state, due at, closed at


class StaffDeskRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def load_state(self, telegram_id: int) -> dict[str, Any]:
        row = await self._session.get(StaffConversationRow, telegram_id)
        return dict(row.state) if row is not None and isinstance(row.state, dict) else {}

    async def save_state(self, telegram_id: int, state: dict[str, Any], at: datetime) -> None:
        row = await self._session.get(StaffConversationRow, telegram_id)
        if row is None:
            self._session.add(
                StaffConversationRow(telegram_id=telegram_id, state=state, updated_at=at)
            )
        else:
            row.state, row.updated_at = dict(state), at
        await self._session.flush()

    async def clear_state(self, telegram_id: int) -> None:
        await self._session.execute(
            delete(StaffConversationRow).where(StaffConversationRow.telegram_id == telegram_id)
        )

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

    async def request_facts(self) -> list[RequestFacts]:
        rows = await self._session.execute(
            select(DataRequestRow.state, DataRequestRow.due_at, DataRequestRow.closed_at)
        )
        return [(r[0], r[1], r[2]) for r in rows]
