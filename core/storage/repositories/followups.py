"""Storage for purchases' follow-ups: one row per order, moving through its states.

Nothing here commits; the unit of work's transaction does.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.storage.tables import FollowupRow

__all__ = ["ACTIVE_STATES", "FollowupRepository"]

# Follow-ups that count towards "at most one per customer per period".
ACTIVE_STATES = ("scheduled", "sending", "sent", "uncertain")


class FollowupRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, order_id: str, customer_ref: str, run_at: datetime, now: datetime) -> None:
        self._session.add(
            FollowupRow(
                order_id=order_id,
                customer_ref=customer_ref,
                state="scheduled",
                scheduled_for=run_at,
                created_at=now,
                updated_at=now,
            )
        )
        await self._session.flush()

    async def get(self, order_id: str, *, lock: bool = False) -> FollowupRow | None:
        return await self._session.get(FollowupRow, order_id, with_for_update=lock)

    async def move(
        self, row: FollowupRow, state: str, now: datetime, reason: str | None = None
    ) -> None:
        row.state, row.updated_at, row.reason = state, now, reason
        await self._session.flush()

    async def latest_active(self, customer_ref: str) -> datetime | None:
        """When this customer's most recent live (or delivered) follow-up was due."""
        return await self._session.scalar(
            select(FollowupRow.scheduled_for)
            .where(FollowupRow.customer_ref == customer_ref, FollowupRow.state.in_(ACTIVE_STATES))
            .order_by(FollowupRow.scheduled_for.desc())
            .limit(1)
        )
