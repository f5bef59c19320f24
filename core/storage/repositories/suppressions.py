"""The suppression list: keyed blind indexes of erased customers' contacts.

The only place the list is read or written. Nothing here commits.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.crypto import BlindIndexer
from core.storage.tables import SuppressionRow

__all__ = ["SuppressionRepository"]


class SuppressionRepository:
    def __init__(self, session: AsyncSession, indexer: BlindIndexer) -> None:
        self._session = session
        self._indexer = indexer

    async def add(self, kind: str, blind: str, at: datetime) -> None:
        if await self._session.get(SuppressionRow, blind) is None:
            self._session.add(SuppressionRow(blind=blind, kind=kind, created_at=at))
            await self._session.flush()

    async def is_suppressed(self, kind: str, normalised: str) -> bool:
        blind = self._indexer.index(kind, normalised)
        return await self._session.get(SuppressionRow, blind) is not None

    async def listed_at(self, blinds: Iterable[str]) -> datetime | None:
        """When the latest of these blind indexes was listed (None: none is)."""
        wanted = list(blinds)
        if not wanted:
            return None
        return await self._session.scalar(
            select(func.max(SuppressionRow.created_at)).where(SuppressionRow.blind.in_(wanted))
        )
