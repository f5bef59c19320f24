"""Shared fixtures: a real core on a real database (SQLite always, PostgreSQL when set)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from core.app import PrivacyCore, open_core
from core.settings import Settings

pytest_plugins = ["tests.fake_telegram.plugin"]

POSTGRES_URL = os.environ.get("PRIVACY_TEST_POSTGRES_URL")
BACKENDS = ["sqlite", "postgres"] if POSTGRES_URL else ["sqlite"]


_migrated_once: set[str] = set()


async def reset_postgres(url: str) -> None:
    """An empty database per test, like a new shop.

    The first test of a run starts from a blank schema (so migrations run for real);
    later ones empty every table, which is much faster than migrating again.
    """
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        if url not in _migrated_once:
            await conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
            _migrated_once.add(url)
        else:
            names = list(
                await conn.scalars(
                    text(
                        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                        "AND tablename <> 'alembic_version'"
                    )
                )
            )
            if names:
                await conn.execute(text(f"TRUNCATE {', '.join(names)} RESTART IDENTITY CASCADE"))
                await conn.execute(
                    text("INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, :zero)"),
                    {"zero": "0" * 64},
                )
    await engine.dispose()


@pytest.fixture(params=BACKENDS)
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgres":
        assert POSTGRES_URL
        await reset_postgres(POSTGRES_URL)
        return POSTGRES_URL
    return f"sqlite+aiosqlite:///{tmp_path / 'privacy.db'}"


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        master_key=None,
        policy_file=None,
    )


@pytest.fixture
async def core(settings: Settings) -> AsyncIterator[PrivacyCore]:
    app = await open_core(settings)
    yield app
    await app.close()
