"""Signatures already seen on signed callbacks (replay protection), kept 10 minutes.

Nothing here commits; the unit of work's transaction does.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from core.storage.tables import NonceRow

__all__ = ["SignatureRepository"]


class SignatureRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def remember(self, digest: str, now: datetime) -> None:
        """Insert the digest; a duplicate raises IntegrityError at flush (a replay)."""
        self._session.add(NonceRow(digest=digest, seen_at=now))
        await self._session.flush()

    async def purge(self, before: datetime) -> int:
        result = await self._session.execute(delete(NonceRow).where(NonceRow.seen_at < before))
        return int(getattr(result, "rowcount", 0))
