"""python-telegram-bot 22: every update goes to the flow engine through one TypeHandler.

No PicklePersistence: conversation state lives in our database.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from telegram import (
    BotCommand,
    BotCommandScopeChat,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    KeyboardButton,
    ReplyKeyboardMarkup,
    Update,
)
from telegram.error import BadRequest, Forbidden, NetworkError, TelegramError, TimedOut
from telegram.error import RetryAfter as PtbRetryAfter
from telegram.ext import Application, ApplicationBuilder, ContextTypes, TypeHandler

from bot.channels.telegram import (
    MENU_LANGUAGES,
    command_menu,
    deliver,
    incoming_from_update,
)
from bot.conversation import FlowEngine, Reply
from bot.outbound import (
    Blocked,
    DeliveryUnknown,
    MakeOutbound,
    NotDelivered,
    Outbound,
    Rejected,
    RetryAfter,
    SendError,
)

__all__ = ["CONCURRENT_UPDATES", "CONNECTION_POOL", "PtbAdapter"]

log = logging.getLogger("bot.ptb")


class PtbSender:
    """Every call's failures leave as bot.outbound's SendError classes."""

    def __init__(self, application: Application[Any, Any, Any, Any, Any, Any]) -> None:
        self.bot = application.bot

    async def send_text(self, chat_id: int, reply: Reply) -> None:
        with _translated():
            await self.bot.send_message(chat_id, reply.text, reply_markup=_markup(reply))

    async def edit_text(self, chat_id: int, message_id: int, reply: Reply) -> bool:
        with _translated():
            try:
                await self.bot.edit_message_text(
                    reply.text, chat_id=chat_id, message_id=message_id, reply_markup=_inline(reply)
                )
            except BadRequest as error:
                return "not modified" in str(error).lower()
        return True

    async def send_document(self, chat_id: int, name: str, content: bytes, caption: str) -> None:
        with _translated():
            await self.bot.send_document(
                chat_id, InputFile(content, filename=name), caption=caption or None
            )

    async def send_photo(self, chat_id: int, content: bytes, caption: str) -> None:
        with _translated():
            await self.bot.send_photo(
                chat_id, InputFile(content, filename="chart.png"), caption=caption or None
            )

    async def answer_callback(self, callback_id: str, text: str | None, alert: bool) -> None:
        with _translated():
            await self.bot.answer_callback_query(callback_id, text=text, show_alert=alert)


@contextmanager
def _translated() -> Iterator[None]:
    try:
        yield
    except TelegramError as error:
        raise _send_error(error) from None


# httpx errors raised before any byte of the request left this machine.
_NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def _send_error(error: TelegramError) -> SendError:
    if isinstance(error, PtbRetryAfter):
        wait = error.retry_after
        return RetryAfter(float(wait if isinstance(wait, int) else wait.total_seconds()))
    if isinstance(error, Forbidden):
        return Blocked(type(error).__name__)
    if isinstance(error, BadRequest):  # a NetworkError subclass in PTB: test it first
        return Rejected(type(error).__name__)
    if isinstance(error, TimedOut | NetworkError):
        cause = error.__cause__
        if cause is None and not isinstance(error, TimedOut):
            return NotDelivered("server_error")  # PTB raises NetworkError for HTTP 5xx answers
        name = type(cause).__name__
        return NotDelivered(name) if isinstance(cause, _NEVER_SENT) else DeliveryUnknown(name)
    return Rejected(type(error).__name__)


def _inline(reply: Reply) -> InlineKeyboardMarkup | None:
    if not reply.buttons:
        return None
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(b.text, callback_data=b.data) for b in row] for row in reply.buttons]
    )


def _markup(reply: Reply) -> InlineKeyboardMarkup | ReplyKeyboardMarkup | None:
    if reply.ask_contact:
        button = KeyboardButton(reply.ask_contact, request_contact=True)
        return ReplyKeyboardMarkup([[button]], resize_keyboard=True, one_time_keyboard=True)
    return _inline(reply)


CONCURRENT_UPDATES = 64
# PTB's default pool has one connection: concurrent turns would queue for it.
CONNECTION_POOL = 16


class PtbAdapter:
    """The python-telegram-bot side of ``privacy-bot run --framework ptb``."""

    def __init__(
        self,
        engine: FlowEngine,
        token: str,
        api_base: str,
        make_outbound: MakeOutbound = Outbound,
    ) -> None:
        self.application = (
            ApplicationBuilder()
            .token(token)
            .base_url(api_base + "/bot")
            .base_file_url(api_base + "/file/bot")
            # PTB handles one update at a time by default: one customer's slow turn
            # (an export, a retry_after wait) would hold up everyone. The engine keeps
            # each customer's own updates in order and caps turns at once.
            .concurrent_updates(CONCURRENT_UPDATES)
            .connection_pool_size(CONNECTION_POOL)
            .build()
        )
        self.application.add_handler(TypeHandler(Update, self._on_update))
        self.application.add_error_handler(self._on_error)
        self.engine = engine
        self.sender = PtbSender(self.application)
        self.outbound = make_outbound(self.sender)
        self._started = False

    async def _on_update(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        translated = incoming_from_update(update.to_dict(), self.application.bot.username)
        if translated is None:
            return
        event, callback_id = translated
        outcome = await self.engine.handle(event)
        await deliver(outcome, event, callback_id, self.outbound, self.engine.blocked)

    async def _on_error(self, _update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        # The error's text may quote an update; its type is enough to investigate.
        log.error("update failed: %s", type(context.error).__name__)

    async def register_commands(self) -> None:
        with _translated():
            await self._ensure_started()  # getMe: the token and the network, first
            for code, locale in MENU_LANGUAGES.items():
                commands = [BotCommand(c, d) for c, d in command_menu(locale)]
                await self.application.bot.set_my_commands(commands, language_code=code)

    async def set_chat_commands(self, chat_id: int, commands: list[tuple[str, str]]) -> None:
        """A staff member's private menu (bot/background/staff_tasks.py decides what is in it)."""
        await self._ensure_started()
        menu = [BotCommand(c, d) for c, d in commands]
        await self.application.bot.set_my_commands(menu, scope=BotCommandScopeChat(chat_id))

    async def delete_chat_commands(self, chat_id: int) -> None:
        await self._ensure_started()
        await self.application.bot.delete_my_commands(scope=BotCommandScopeChat(chat_id))

    async def _ensure_started(self) -> None:
        if not self._started:
            await self.application.initialize()
            await self.application.start()
            self._started = True

    async def start_polling(self) -> None:
        await self._ensure_started()
        assert self.application.updater is not None
        await self.application.updater.start_polling(poll_interval=0.0, timeout=10)

    async def stop_polling(self) -> None:
        updater = self.application.updater
        if updater is not None and updater.running:
            await updater.stop()

    async def set_webhook(self, url: str, secret_token: str) -> None:
        await self._ensure_started()
        await self.application.bot.set_webhook(url, secret_token=secret_token)

    async def feed_webhook(self, payload: dict[str, Any]) -> None:
        await self._ensure_started()
        update = Update.de_json(payload, self.application.bot)
        await self.application.process_update(update)

    async def close(self) -> None:
        await self.outbound.close()
        await self.stop_polling()
        if self._started:
            await self.application.stop()
            await self.application.shutdown()
            self._started = False
