"""Storage for purchases' follow-ups: their rows, suppressed contacts, seen signatures.

Nothing here commits; the unit of work's transaction does.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.storage.tables import IdentityRow, JobRow, NonceRow, PurchaseRow, SuppressionRow
from core.storage.tables_followups import FollowupRow

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

    async def contact_suppressed(self, customer_ref: str, extra_blinds: list[str]) -> bool:
        """Is any of the customer's identities (or the given ones) on the suppression list?"""
        blinds = list(
            await self._session.scalars(
                select(IdentityRow.blind).where(IdentityRow.customer_ref == customer_ref)
            )
        )
        blinds.extend(extra_blinds)
        found = await self._session.scalar(
            select(SuppressionRow.blind).where(SuppressionRow.blind.in_(blinds)).limit(1)
        )
        return found is not None

    async def purchased_at(self, order_id: str) -> datetime | None:
        return await self._session.scalar(
            select(PurchaseRow.purchased_at).where(PurchaseRow.order_id == order_id)
        )

    async def job_held(self, job_id: int, worker: str) -> bool:
        """Does ``worker`` still hold this job's lease (so acting on it is safe)?"""
        found = await self._session.scalar(
            select(JobRow.id)
            .where(JobRow.id == job_id, JobRow.leased_by == worker, JobRow.state == "running")
            .with_for_update()
        )
        return found is not None

    async def remember_signature(self, digest: str, now: datetime) -> None:
        """Insert the digest; a duplicate raises IntegrityError at flush (a replay)."""
        self._session.add(NonceRow(digest=digest, seen_at=now))
        await self._session.flush()

    async def purge_signatures(self, before: datetime) -> int:
        result = await self._session.execute(delete(NonceRow).where(NonceRow.seen_at < before))
        return int(getattr(result, "rowcount", 0))
