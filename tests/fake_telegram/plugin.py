"""pytest plugin: the `fake_telegram` fixture (enable via `pytest_plugins`)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from tests.fake_telegram.server import FakeTelegram


@pytest_asyncio.fixture
async def fake_telegram() -> AsyncIterator[FakeTelegram]:
    """A started fake Bot API server, stopped after the test.

    Teardown fails the test if the fake itself crashed while answering, because a bug
    in the fake would otherwise look like a bug in the bot.
    """
    fake = FakeTelegram()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()
    if fake.errors:
        pytest.fail(f"fake Telegram server raised internally: {fake.errors!r}")
