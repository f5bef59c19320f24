"""Copying every row of a store into an empty one of another kind (SQLite -> PostgreSQL).

Rows go across as they are (ciphertext stays ciphertext, the audit chain's hashes
stay valid), a table at a time in foreign-key order, streamed in batches so memory
stays flat. PostgreSQL's sequences are then moved past the copied ids.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Integer, Select, Table, delete, false, func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = ["copy_rows", "rows_in"]

_BATCH = 1000

Progress = Callable[[str, int], None]


async def rows_in(engine: AsyncEngine, tables: Sequence[Table]) -> dict[str, int]:
    """How many rows each table holds."""
    async with engine.connect() as conn:
        return {
            t.name: int(await conn.scalar(select(func.count()).select_from(t)) or 0) for t in tables
        }


async def copy_rows(
    source: AsyncEngine,
    target: AsyncEngine,
    tables: Sequence[Table],
    progress: Progress | None = None,
) -> dict[str, int]:
    """Copy every row of ``tables`` (in that order) from ``source`` to ``target``, in
    place of what the target's tables hold, in one transaction; how many per table."""
    copied: dict[str, int] = {}
    async with source.connect() as src, target.begin() as dst:
        for table in reversed(tables):
            await dst.execute(delete(table))
        for table in tables:
            copied[table.name] = 0
            result = await src.stream(select(table).order_by(*table.primary_key.columns))
            async for part in result.partitions(_BATCH):
                await dst.execute(insert(table), [dict(row._mapping) for row in part])
                copied[table.name] += len(part)
                if progress:
                    progress(table.name, copied[table.name])
            if dst.dialect.name == "postgresql":
                for column in _serial_columns(table):
                    await dst.execute(_past_the_copied(table, column))
    return copied


def _past_the_copied(table: Table, column: str) -> Select[Any]:
    """PostgreSQL: the column's sequence continues after the highest copied id."""
    highest = select(func.max(table.c[column])).scalar_subquery()
    return select(
        func.setval(
            func.pg_get_serial_sequence(table.name, column),
            func.coalesce(highest, 0) + 1,
            false(),
        )
    )


def _serial_columns(table: Table) -> list[str]:
    """Integer primary keys the database numbers itself."""
    return [
        c.name
        for c in table.primary_key.columns
        if len(table.primary_key.columns) == 1
        and isinstance(c.type, Integer)
        and c.autoincrement in (True, "auto")
    ]
