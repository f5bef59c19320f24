"""What only the Telegram channels have: raw update kinds, menus, webhooks, files."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest

from bot.channels.telegram import deliver, webhook_token
from bot.conversation import EventKind, FlowEngine, Incoming, Outcome, Reply
from bot.http.app import WEBHOOK_PATH
from bot.logs import QUIET_LOGGERS, quiet_libraries
from bot.render.i18n import Translator
from bot.runner import make_adapter
from core.app import PrivacyCore
from tests.chat_drivers import TelegramDriver, hook_deliver
from tests.fake_telegram import FakeTelegram

USER = 7001


@pytest.fixture
async def bot(
    framework: str, core: PrivacyCore, fake_telegram: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[TelegramDriver]:
    driver = TelegramDriver(
        core, fake_telegram, framework, hook_deliver(monkeypatch, framework), USER
    )
    await driver.start()
    yield driver
    await driver.close()


async def push_and_wait(bot: TelegramDriver, push: object) -> None:
    target = bot.processed.count + 1
    assert push is not None
    await bot.processed.wait_for(target)


async def test_the_command_menu_is_registered_per_language(bot: TelegramDriver) -> None:
    calls = bot.fake.calls_to("setMyCommands")
    by_language = {c.params.get("language_code"): c.params["commands"] for c in calls}
    assert set(by_language) == {None, "zh"}
    assert [c["command"] for c in by_language[None]] == [
        "start",
        "privacy",
        "mydata",
        "export",
        "correct",
        "delete",
        "requests",
        "survey",
        "language",
        "help",
    ]
    assert by_language["zh"][1]["description"] == Translator("zh_Hans")("command.privacy")


async def test_a_group_command_gets_a_private_chat_hint_and_chatter_is_ignored(
    bot: TelegramDriver,
) -> None:
    group = -100123
    await push_and_wait(
        bot, bot.fake.push_command(USER, "/start", chat_id=group, chat_type="supergroup")
    )
    await push_and_wait(
        bot, bot.fake.push_message(USER, "hello all", chat_id=group, chat_type="group")
    )
    sent = bot.fake.sent_to(group)
    assert len(sent) == 1
    assert "private chat" in sent[0].params["text"]


async def test_a_sticker_gets_a_polite_answer(bot: TelegramDriver) -> None:
    await bot.send("/start")
    await push_and_wait(bot, bot.fake.push_sticker(USER))
    assert "only read text" in bot.messages[-1].text


async def test_an_edited_message_and_a_bot_message_are_ignored(bot: TelegramDriver) -> None:
    await bot.send("/start")
    before = len(bot.fake.sent_to(USER))
    await push_and_wait(bot, bot.fake.push_edited_message(USER, "/privacy"))
    await push_and_wait(bot, bot.fake.push_message(USER, "/privacy", is_bot=True))
    assert len(bot.fake.sent_to(USER)) == before


async def test_a_callback_without_a_message_is_answered_as_expired(bot: TelegramDriver) -> None:
    await bot.send("/start")
    await bot.press_raw("AAAAAAAA|cs|marketing:1", None)
    assert bot.notice is not None
    assert "expired" in bot.notice


async def test_logs_name_the_event_kind_but_never_its_text(
    bot: TelegramDriver, caplog: pytest.LogCaptureFixture
) -> None:
    levels = {name: logging.getLogger(name).level for name in QUIET_LOGGERS}
    quiet_libraries()  # as `privacy-bot run` does
    try:
        with caplog.at_level(logging.INFO):
            await bot.send("/start")
            await bot.send("my name is Zhang Wei and my phone is 91234567")
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
    assert "kind=text" in caplog.text
    assert "Zhang" not in caplog.text
    assert "91234567" not in caplog.text
    assert bot.fake.token not in caplog.text


async def test_survey_state_survives_a_restart(bot: TelegramDriver) -> None:
    await bot.send("/start")
    await bot.send("/survey")
    await bot.press("Weekly")
    await bot.restart()
    await bot.send("/survey")
    assert "Question 2 of 3" in bot.messages[-1].text


async def test_a_document_and_a_photo_reach_the_chat_with_their_bytes(
    framework: str, core: PrivacyCore, fake_telegram: FakeTelegram
) -> None:
    adapter = make_adapter(framework, FlowEngine(core), fake_telegram.token, fake_telegram.api_base)
    event = Incoming(user_id=USER, chat_id=USER, kind=EventKind.COMMAND, text="export")
    outcome = Outcome(
        replies=[
            Reply(text="your copy", document=("my-data.zip", b"PK\x03\x04zipbytes")),
            Reply(text="chart", photo=b"\x89PNG\r\n\x1a\nrest"),
        ]
    )
    try:
        await deliver(outcome, event, None, adapter.outbound)
    finally:
        await adapter.close()
    document = fake_telegram.calls_to("sendDocument")[0]
    assert document.files["document"] == ("my-data.zip", b"PK\x03\x04zipbytes")
    assert fake_telegram.calls_to("sendPhoto")[0].files["photo"][1] == b"\x89PNG\r\n\x1a\nrest"


async def test_webhook_mode_accepts_telegrams_secret_and_refuses_others(
    framework: str, core: PrivacyCore, fake_telegram: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    driver = TelegramDriver(
        core, fake_telegram, framework, hook_deliver(monkeypatch, framework), USER
    )
    await driver.start(webhook_url="https://shop.example", webhook_secret="s3cret")
    try:
        registered = fake_telegram.calls_to("setWebhook")[0].params
        assert registered["url"] == "https://shop.example" + WEBHOOK_PATH
        assert registered["secret_token"] == webhook_token("s3cret")
        url = f"http://127.0.0.1:{driver.http_port}{WEBHOOK_PATH}"
        update = {
            "update_id": 1,
            "message": {
                "message_id": 1,
                "date": 0,
                "text": "/start",
                "chat": {"id": USER, "type": "private"},
                "from": {"id": USER, "is_bot": False, "first_name": "A"},
                "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
            },
        }
        assert await fake_telegram.deliver_webhook(update, url, secret_token="wrong") == 403
        assert await fake_telegram.deliver_webhook(update, url) == 403
        assert not fake_telegram.sent_to(USER)
        assert (
            await fake_telegram.deliver_webhook(update, url, secret_token=webhook_token("s3cret"))
            == 200
        )
        await driver.processed.wait_for(1)
        assert fake_telegram.sent_to(USER)
    finally:
        await driver.close()


def test_aiogram_response_models_are_built_once_however_often_memory_is_collected() -> None:
    import gc
    import weakref

    from aiogram.methods import EditMessageText
    from aiogram.methods.base import Response

    from bot.channels.aiogram_bot import pin_response_models

    pin_response_models()
    built = []
    for _ in range(2):  # what aiogram does on every call, with a collection in between
        model = Response[EditMessageText.__returning__]  # type: ignore[name-defined]
        model.model_validate({"ok": True, "result": True})
        built.append(weakref.ref(model))
        del model
        gc.collect()
    # Unpinned, pydantic drops the class and rebuilds its schema (3-9 ms) next time.
    assert built[0]() is not None
    assert built[0]() is built[1]()


async def test_a_failure_to_mark_a_blocked_user_is_logged_without_its_text(
    core: PrivacyCore, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def failing(cmd: object, uow: object) -> None:
        raise RuntimeError("UPDATE customers ... parameters: ('7001',)")

    monkeypatch.setattr("bot.conversation.engine.report_blocked", failing)
    with caplog.at_level(logging.ERROR, logger="bot.conversation"):
        await FlowEngine(core).blocked(Incoming(USER, USER, EventKind.TEXT, "hi"))
    assert "marking blocked failed error=RuntimeError" in caplog.text
    assert str(USER) not in caplog.text
