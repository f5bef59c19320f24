"""Storage for single-use export links: keyed hashes of their tokens only.

Nothing here commits; the unit of work's transaction does.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.crypto import keyed_hash
from core.storage.tables import ExportLinkRow

__all__ = ["ExportLinkRepository"]


class ExportLinkRepository:
    def __init__(self, session: AsyncSession, token_key: bytes) -> None:
        self._session = session
        self._key = token_key

    def _hash(self, token: str) -> str:
        return keyed_hash(self._key, token)

    async def add(
        self, token: str, customer_ref: str, request_ref: str, now: datetime, expires_at: datetime
    ) -> None:
        self._session.add(
            ExportLinkRow(
                token_hash=self._hash(token),
                customer_ref=customer_ref,
                request_ref=request_ref,
                created_at=now,
                expires_at=expires_at,
            )
        )
        await self._session.flush()

    async def get(self, token: str, *, lock: bool = False) -> ExportLinkRow | None:
        return await self._session.get(ExportLinkRow, self._hash(token), with_for_update=lock)

    async def use_once(self, token: str, now: datetime) -> bool:
        """Mark the link used; False if another opening used it meanwhile."""
        result = await self._session.execute(
            update(ExportLinkRow)
            .where(ExportLinkRow.token_hash == self._hash(token), ExportLinkRow.used_at.is_(None))
            .values(used_at=now)
        )
        return int(getattr(result, "rowcount", 0)) == 1

    async def drop_customer(self, customer_ref: str) -> None:
        """An erasure takes the customer's links with it."""
        await self._session.execute(
            delete(ExportLinkRow).where(ExportLinkRow.customer_ref == customer_ref)
        )
