"""Self-tests of the fake Bot API server, driven by the real aiogram and PTB over HTTP.

The bot libraries are imported inside the helpers: importing aiogram takes seconds and
should not slow down collecting the rest of the suite.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from tests.fake_telegram import Call, FakeTelegram

USER = 4242
KEYBOARD = {"inline_keyboard": [[{"text": "Yes", "callback_data": "consent:yes"}]]}


@contextlib.asynccontextmanager
async def aiogram_polling(fake: FakeTelegram, dispatcher: Any) -> AsyncIterator[Any]:
    """Run a real aiogram dispatcher against the fake, stop it cleanly afterwards."""
    from aiogram import Bot
    from aiogram.client.session.aiohttp import AiohttpSession
    from aiogram.client.telegram import TelegramAPIServer

    session = AiohttpSession(api=TelegramAPIServer.from_base(fake.api_base))
    bot = Bot(fake.token, session=session)
    task = asyncio.create_task(
        dispatcher.start_polling(bot, polling_timeout=1, handle_signals=False)
    )
    try:
        await fake.wait_for("getMe")  # polling has started once aiogram asked who it is
        yield bot
    finally:
        await dispatcher.stop_polling()
        await asyncio.wait_for(task, 5)


@contextlib.asynccontextmanager
async def ptb_polling(fake: FakeTelegram, *handlers: Any) -> AsyncIterator[Any]:
    """Run a real python-telegram-bot Application against the fake."""
    from telegram.ext import ApplicationBuilder

    app = (
        ApplicationBuilder()
        .token(fake.token)
        .base_url(fake.api_base + "/bot")
        .base_file_url(fake.api_base + "/file/bot")
        .build()
    )
    for handler in handlers:
        app.add_handler(handler)
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=1)
        try:
            yield app
        finally:
            await app.updater.stop()
            await app.stop()


async def raw_call(fake: FakeTelegram, method: str, **params: Any) -> tuple[int, dict[str, Any]]:
    """Call the fake like a minimal client would: JSON body, no library involved."""
    url = f"{fake.api_base}/bot{fake.token}/{method}"
    async with aiohttp.ClientSession() as session, session.post(url, json=params) as response:
        return response.status, await response.json()


def to_user(call: Call) -> bool:
    return call.chat_id == USER


async def test_aiogram_start_command_is_answered_with_inline_keyboard(
    fake_telegram: FakeTelegram,
) -> None:
    from aiogram import Dispatcher
    from aiogram.filters import CommandStart
    from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, Message

    dp = Dispatcher()

    @dp.message(CommandStart())
    async def start(message: Message) -> None:
        button = InlineKeyboardButton(text="Yes", callback_data="consent:yes")
        await message.answer("Hello", reply_markup=InlineKeyboardMarkup(inline_keyboard=[[button]]))

    async with aiogram_polling(fake_telegram, dp):
        fake_telegram.push_command(USER, "/start")
        [call] = await fake_telegram.wait_for("sendMessage", to_user)

    assert call.params["text"] == "Hello"
    assert call.params["reply_markup"] == KEYBOARD
    assert fake_telegram.messages(USER)[0]["reply_markup"] == KEYBOARD


async def test_ptb_start_command_is_answered(fake_telegram: FakeTelegram) -> None:
    from telegram import Update
    from telegram.ext import CommandHandler, ContextTypes

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text("Hello from PTB")

    async with ptb_polling(fake_telegram, CommandHandler("start", start)):
        fake_telegram.push_command(USER, "/start")
        [call] = await fake_telegram.wait_for("sendMessage", to_user)

    assert call.params["text"] == "Hello from PTB"
    assert [m["text"] for m in fake_telegram.messages(USER)] == ["Hello from PTB"]


async def test_aiogram_document_upload_is_recorded_with_name_and_bytes(
    fake_telegram: FakeTelegram,
) -> None:
    from aiogram import Bot
    from aiogram.client.session.aiohttp import AiohttpSession
    from aiogram.client.telegram import TelegramAPIServer
    from aiogram.types import BufferedInputFile

    session = AiohttpSession(api=TelegramAPIServer.from_base(fake_telegram.api_base))
    async with Bot(fake_telegram.token, session=session) as bot:
        sent = await bot.send_document(USER, BufferedInputFile(b"\x00export\xff", "data.json"))

    [call] = fake_telegram.sent_to(USER)
    assert call.files["document"] == ("data.json", b"\x00export\xff")
    assert sent.document is not None
    assert sent.document.file_name == "data.json"
    assert sent.document.file_size == 8


async def test_ptb_document_upload_is_recorded_with_name_and_bytes(
    fake_telegram: FakeTelegram,
) -> None:
    from telegram import Bot

    bot = Bot(
        fake_telegram.token,
        base_url=fake_telegram.api_base + "/bot",
        base_file_url=fake_telegram.api_base + "/file/bot",
    )
    async with bot:
        sent = await bot.send_document(USER, b"\x00export\xff", filename="data.json")

    [call] = fake_telegram.sent_to(USER)
    assert call.files["document"] == ("data.json", b"\x00export\xff")
    assert sent.document is not None
    assert sent.document.file_name == "data.json"


async def test_ptb_callback_query_reaches_handler_and_is_answered(
    fake_telegram: FakeTelegram,
) -> None:
    from telegram import Update
    from telegram.ext import CallbackQueryHandler, ContextTypes

    received: list[tuple[str | None, int | None]] = []

    async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None
        received.append((query.data, query.message.message_id if query.message else None))
        await query.answer("Saved")

    status, body = await raw_call(
        fake_telegram, "sendMessage", chat_id=USER, text="Agree?", reply_markup=KEYBOARD
    )
    assert status == 200
    message_id = body["result"]["message_id"]
    async with ptb_polling(fake_telegram, CallbackQueryHandler(on_button)):
        fake_telegram.push_callback(USER, "consent:yes", message_id=message_id)
        [answer] = await fake_telegram.wait_for("answerCallbackQuery")

    assert received == [("consent:yes", message_id)]
    assert answer.ok
    assert answer.params["text"] == "Saved"


async def test_callback_without_message_carries_inline_message_id(
    fake_telegram: FakeTelegram,
) -> None:
    update = fake_telegram.push_callback(USER, "consent:yes", message=None)

    _, body = await raw_call(fake_telegram, "getUpdates")

    [query] = [u["callback_query"] for u in body["result"]]
    assert query == update["callback_query"]
    assert "message" not in query
    assert query["inline_message_id"]


async def test_deliver_webhook_posts_update_with_secret_header(
    fake_telegram: FakeTelegram,
) -> None:
    received: list[tuple[str | None, dict[str, Any]]] = []

    async def webhook(request: web.Request) -> web.Response:
        secret = request.headers.get("X-Telegram-Bot-Api-Secret-Token")
        received.append((secret, await request.json()))
        return web.Response(status=200 if secret == "s3cret" else 401)

    app = web.Application()
    app.router.add_post("/hook", webhook)
    runner = web.AppRunner(app)
    await runner.setup()
    sock = socket.create_server(("127.0.0.1", 0))
    await web.SockSite(runner, sock).start()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/hook"
    update = {"update_id": 7, "message": {"message_id": 1, "date": 0, "chat": {"id": 1}}}
    try:
        good = await fake_telegram.deliver_webhook(update, url, secret_token="s3cret")
        bad = await fake_telegram.deliver_webhook(update, url)
    finally:
        await runner.cleanup()

    assert (good, bad) == (200, 401)
    assert received == [("s3cret", update), (None, update)]


async def test_fail_next_429_returns_retry_after(fake_telegram: FakeTelegram) -> None:
    fake_telegram.fail_next("sendMessage", 429, retry_after=1)

    first = await raw_call(fake_telegram, "sendMessage", chat_id=USER, text="hi")
    second = await raw_call(fake_telegram, "sendMessage", chat_id=USER, text="hi")

    assert first == (
        429,
        {
            "ok": False,
            "error_code": 429,
            "description": "Too Many Requests: retry after 1",
            "parameters": {"retry_after": 1},
        },
    )
    assert second[0] == 200
    assert len(fake_telegram.sent_to(USER)) == 1


async def test_get_updates_long_poll_returns_as_soon_as_update_arrives(
    fake_telegram: FakeTelegram,
) -> None:
    poll = asyncio.create_task(raw_call(fake_telegram, "getUpdates", timeout=10))
    await asyncio.sleep(0.2)
    assert not poll.done()

    started = time.monotonic()
    update = fake_telegram.push_message(USER, "hello")
    status, body = await asyncio.wait_for(poll, 2)

    assert status == 200
    assert body["result"] == [update]
    assert time.monotonic() - started < 1


async def test_get_updates_offset_confirms_earlier_updates(fake_telegram: FakeTelegram) -> None:
    first = fake_telegram.push_message(USER, "one")
    second = fake_telegram.push_message(USER, "two")

    _, body = await raw_call(fake_telegram, "getUpdates", offset=first["update_id"] + 1)

    assert body["result"] == [second]


async def test_unknown_method_is_404(fake_telegram: FakeTelegram) -> None:
    status, body = await raw_call(fake_telegram, "sendTelepathy")

    assert status == 404
    assert body == {"ok": False, "error_code": 404, "description": "Not Found: method not found"}


async def test_edit_of_unknown_message_is_rejected(fake_telegram: FakeTelegram) -> None:
    status, body = await raw_call(
        fake_telegram, "editMessageText", chat_id=USER, message_id=99, text="x"
    )

    assert (status, body["description"]) == (400, "Bad Request: message to edit not found")


async def test_identical_edit_is_not_modified(fake_telegram: FakeTelegram) -> None:
    _, sent = await raw_call(
        fake_telegram, "sendMessage", chat_id=USER, text="Agree?", reply_markup=KEYBOARD
    )
    edit = {"chat_id": USER, "message_id": sent["result"]["message_id"], "text": "Agree?"}

    status, body = await raw_call(fake_telegram, "editMessageText", **edit, reply_markup=KEYBOARD)
    removed = await raw_call(fake_telegram, "editMessageText", **edit)

    assert status == 400
    assert body["description"].startswith("Bad Request: message is not modified")
    assert removed[0] == 200
    assert "reply_markup" not in fake_telegram.messages(USER)[0]


async def test_rate_limit_rejects_second_send_to_same_chat_within_a_second(
    fake_telegram: FakeTelegram,
) -> None:
    fake_telegram.enforce_rate_limits(global_per_second=30, per_chat_per_second=1)

    first = await raw_call(fake_telegram, "sendMessage", chat_id=USER, text="a")
    second = await raw_call(fake_telegram, "sendMessage", chat_id=USER, text="b")
    other_chat = await raw_call(fake_telegram, "sendMessage", chat_id=USER + 1, text="c")

    assert [first[0], second[0], other_chat[0]] == [200, 429, 200]
    assert second[1]["parameters"] == {"retry_after": 1}
    assert fake_telegram.rate_limited_count == 1


async def test_drop_next_closes_connection_without_answer(fake_telegram: FakeTelegram) -> None:
    fake_telegram.drop_next("getMe")

    with pytest.raises(aiohttp.ServerDisconnectedError):
        await raw_call(fake_telegram, "getMe")

    assert fake_telegram.calls_to("getMe")[0].status == 0
    assert (await raw_call(fake_telegram, "getMe"))[0] == 200


async def test_stop_ends_pending_long_poll(fake_telegram: FakeTelegram) -> None:
    poll = asyncio.create_task(raw_call(fake_telegram, "getUpdates", timeout=30))
    await asyncio.sleep(0.1)

    started = time.monotonic()
    await fake_telegram.stop()

    assert await asyncio.wait_for(poll, 2) == (200, {"ok": True, "result": []})
    assert time.monotonic() - started < 2


async def test_wait_for_timeout_lists_recorded_calls(fake_telegram: FakeTelegram) -> None:
    await raw_call(fake_telegram, "sendMessage", chat_id=USER, text="hi")

    with pytest.raises(AssertionError, match="sendMessage"):
        await fake_telegram.wait_for("sendPhoto", timeout=0.1)
