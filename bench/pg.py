"""PostgreSQL scratch databases for the benchmarks that also run there (B1/B3/B7).

``--postgres postgresql+asyncpg://user@host:port/name`` names the server; each
benchmark gets its own fresh database ``<name>_<bench>`` (dropped and created
again at the start, dropped at the end), so runs never see each other's rows.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.engine import make_url

__all__ = ["scratch_database"]


def _admin_dsn(url: str) -> tuple[str, str]:
    """(asyncpg DSN of the server's maintenance database, base database name)."""
    parsed = make_url(url)
    base = parsed.database or "privacy_bench"
    admin = parsed.set(drivername="postgresql", database="postgres")
    return admin.render_as_string(hide_password=False), base


@asynccontextmanager
async def scratch_database(url: str, suffix: str) -> AsyncIterator[str]:
    """A fresh, empty database on ``url``'s server; yields its SQLAlchemy URL."""
    import asyncpg

    dsn, base = _admin_dsn(url)
    name = f"{base}_{suffix}".lower()
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    try:
        yield make_url(url).set(database=name).render_as_string(hide_password=False)
    finally:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()
