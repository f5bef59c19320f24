"""pytest plugin: ``make_chat``, a chat on each channel (console, aiogram, PTB, WhatsApp), and
``framework``, each Telegram framework in turn.

One running bot serves every user of a Telegram channel within a test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from core.app import PrivacyCore
from core.domain.customer import Customer, IdentityKind
from core.services import find_customer
from core.storage import UnitOfWork
from tests.chat_drivers import ConsoleDriver, Driver, TelegramDriver, hook_deliver
from tests.fake_telegram import FakeTelegram
from tests.fake_whatsapp import FakeWhatsApp
from tests.whatsapp_driver import WhatsAppBot, WhatsAppDriver

FRAMEWORKS = ["aiogram", "ptb"]
CHANNELS = ["console", *FRAMEWORKS, "whatsapp"]

MakeChat = Callable[..., Awaitable[Driver]]


@pytest.fixture(params=FRAMEWORKS)
def framework(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def _open_chats(
    channel: str,
    core: PrivacyCore,
    fake_telegram: FakeTelegram,
    monkeypatch: pytest.MonkeyPatch,
    fake_whatsapp: FakeWhatsApp | None = None,
) -> AsyncIterator[MakeChat]:
    if channel == "whatsapp":
        assert fake_whatsapp is not None
        async for make in _whatsapp_chats(core, fake_whatsapp, monkeypatch):
            yield make
        return
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


async def _whatsapp_chats(
    core: PrivacyCore, fake: FakeWhatsApp, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[MakeChat]:
    """The user's WhatsApp number is their id's digits (the tests' ids are short)."""
    bot = WhatsAppBot(core, fake, hook_deliver(monkeypatch, "whatsapp"))
    started = False

    async def make(user_id: int, language_code: str = "en") -> Driver:
        nonlocal started
        if not started:
            await bot.start()
            started = True
        return WhatsAppDriver(bot, str(user_id))

    yield make
    if started:
        await bot.close()


@pytest.fixture(params=CHANNELS)
async def make_chat(
    request: pytest.FixtureRequest,
    core: PrivacyCore,
    fake_telegram: FakeTelegram,
    fake_whatsapp: FakeWhatsApp,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[MakeChat]:
    """``await make_chat(user_id, language_code="en")`` opens that user's chat."""
    channel = request.param
    async for make in _open_chats(channel, core, fake_telegram, monkeypatch, fake_whatsapp):
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


async def chat_customer(user_id: int, uow: UnitOfWork) -> Customer | None:
    """The customer a test's chat user is: by Telegram id, or (on WhatsApp) by number."""
    for kind in (IdentityKind.TELEGRAM, IdentityKind.WHATSAPP):
        found = await find_customer(kind, str(user_id), uow)
        if found is not None:
            return found
    return None
