"""Platform message ids already handled, so a redelivery is handled once.

Nothing here commits; the unit of work's transaction does.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import exc
from sqlalchemy.ext.asyncio import AsyncSession

from core.storage.tables import SeenMessageRow

__all__ = ["SeenMessageRepository"]


class SeenMessageRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def first_time(self, digest: str, now: datetime) -> bool:
        """Note the message; False when it was noted before (a redelivery)."""
        if await self._session.get(SeenMessageRow, digest) is not None:
            return False
        try:
            async with self._session.begin_nested():
                self._session.add(SeenMessageRow(digest=digest, seen_at=now))
        except exc.IntegrityError:  # noted meanwhile by another process
            return False
        return True
