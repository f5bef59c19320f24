"""pytest plugin: the `fake_whatsapp` fixture (enable via `pytest_plugins`)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from tests.fake_whatsapp.server import FakeWhatsApp


@pytest_asyncio.fixture
async def fake_whatsapp() -> AsyncIterator[FakeWhatsApp]:
    fake = FakeWhatsApp()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()
    if fake.errors:
        pytest.fail(f"fake WhatsApp server raised internally: {fake.errors!r}")
