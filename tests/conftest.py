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


async def reset_postgres(url: str) -> None:
    """A blank schema per test: each test starts from migrations, like a new shop."""
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        await conn.execute(text("CREATE SCHEMA public"))
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
