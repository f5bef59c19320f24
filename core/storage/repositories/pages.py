"""What the database file keeps of deleted rows, after an erasure.

On SQLite, deleted content is zeroed in place instead of left in free pages, and
the write-ahead log is folded back so that no copy of an erased row (or of the
wrapped data key) lives on there. On PostgreSQL both are no-ops.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

__all__ = ["PageStore"]


class PageStore:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def scrub_deleted(self) -> None:
        """On SQLite, zero deleted content in place instead of leaving it in free pages."""
        if self._is_sqlite():
            await self._session.execute(text("PRAGMA secure_delete=ON"))

    async def compact(self) -> None:
        """On SQLite, fold the write-ahead log back (best effort; readers may hold it).

        Pages written before the erasure (with the wrapped data key) live on in the
        -wal file until a checkpoint; truncating it removes those copies.
        """
        if not self._is_sqlite():
            return
        bind = self._session.bind
        assert isinstance(bind, AsyncEngine)
        async with bind.connect() as conn:
            raw = await conn.get_raw_connection()
            driver = raw.driver_connection
            if driver is not None:
                await driver.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def _is_sqlite(self) -> bool:
        bind = self._session.bind
        return bind is not None and bind.dialect.name == "sqlite"
