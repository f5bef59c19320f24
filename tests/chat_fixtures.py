"""pytest plugin: ``make_chat``, a chat on each channel (console, aiogram, PTB), and
``framework``, each Telegram framework in turn.

One running bot serves every user of a Telegram channel within a test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from core.app import PrivacyCore
from tests.chat_drivers import ConsoleDriver, Driver, TelegramDriver, hook_deliver
from tests.fake_telegram import FakeTelegram

FRAMEWORKS = ["aiogram", "ptb"]
CHANNELS = ["console", *FRAMEWORKS]

MakeChat = Callable[..., Awaitable[Driver]]


@pytest.fixture(params=FRAMEWORKS)
def framework(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def _open_chats(
    channel: str, core: PrivacyCore, fake_telegram: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[MakeChat]:
    processed = hook_deliver(monkeypatch, channel) if channel != "console" else None
    runner: TelegramDriver | None = None

    async def make(user_id: int, language_code: str = "en") -> Driver:
        nonlocal runner
        if channel == "console":
            return ConsoleDriver(core, user_id, language_code)
        assert processed is not None
        driver = TelegramDriver(core, fake_telegram, channel, processed, user_id, language_code)
        if runner is None:
            runner = await driver.start()
        return driver

    yield make
    if runner is not None:
        await runner.close()


@pytest.fixture(params=CHANNELS)
async def make_chat(
    request: pytest.FixtureRequest,
    core: PrivacyCore,
    fake_telegram: FakeTelegram,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[MakeChat]:
    """``await make_chat(user_id, language_code="en")`` opens that user's chat."""
    async for make in _open_chats(request.param, core, fake_telegram, monkeypatch):
        yield make


@pytest.fixture(params=["console", "aiogram"])
async def make_chat_here_and_on_telegram(
    request: pytest.FixtureRequest,
    core: PrivacyCore,
    fake_telegram: FakeTelegram,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[MakeChat]:
    """``make_chat`` on the terminal and one Telegram framework: for flows whose
    framework handling other tests already cover on both frameworks."""
    async for make in _open_chats(request.param, core, fake_telegram, monkeypatch):
        yield make
