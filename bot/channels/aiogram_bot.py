"""aiogram 3: every update goes to the flow engine; replies go back through the Bot.

Imported only by ``privacy-bot run --framework aiogram`` (aiogram loads slowly).
Uses no aiogram FSM storage: conversation state lives in our database.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import (
    AnswerCallbackQuery,
    DeleteMyCommands,
    EditMessageText,
    GetUpdates,
    SendDocument,
    SendMessage,
    SendPhoto,
    SetMyCommands,
    TelegramMethod,
)
from aiogram.methods.base import Response
from aiogram.types import (
    BotCommand,
    BotCommandScopeChat,
    BufferedInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    TelegramObject,
    Update,
)
from aiohttp import ClientConnectorError, ConnectionTimeoutError

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

__all__ = ["AiogramAdapter", "pin_response_models"]

log = logging.getLogger("bot.aiogram")

_PINNED: list[type[Any]] = []


def pin_response_models() -> None:
    """Keep aiogram's parametrised ``Response[...]`` models alive for the process.

    aiogram builds ``Response[method.__returning__]`` on every call, and pydantic
    caches those classes only weakly: each garbage collection drops them, and the
    next call rebuilds the schema (3-9 ms). Under load that was a quarter of a
    button press. Holding them here makes every call a cache hit.
    """
    methods: tuple[type[TelegramMethod[Any]], ...] = (
        AnswerCallbackQuery, DeleteMyCommands, EditMessageText, GetUpdates,
        SendDocument, SendMessage, SendPhoto, SetMyCommands,
    )  # fmt: skip
    if not _PINNED:
        _PINNED.extend(Response[m.__returning__] for m in methods)  # type: ignore[name-defined]


class AiogramSender:
    """Every call's failures leave as bot.outbound's SendError classes."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    async def send_text(self, chat_id: int, reply: Reply) -> None:
        with _translated():
            await self.bot.send_message(chat_id, reply.text, reply_markup=_markup(reply))

    async def edit_text(self, chat_id: int, message_id: int, reply: Reply) -> bool:
        with _translated():
            try:
                await self.bot.edit_message_text(
                    text=reply.text,
                    chat_id=chat_id,
                    message_id=message_id,
                    reply_markup=_inline(reply),
                )
            except TelegramBadRequest as error:
                return "not modified" in str(error)
        return True

    async def send_document(self, chat_id: int, name: str, content: bytes, caption: str) -> None:
        with _translated():
            await self.bot.send_document(
                chat_id, BufferedInputFile(content, name), caption=caption or None
            )

    async def send_photo(self, chat_id: int, content: bytes, caption: str) -> None:
        photo = BufferedInputFile(content, "chart.png")
        with _translated():
            await self.bot.send_photo(chat_id, photo, caption=caption or None)

    async def answer_callback(self, callback_id: str, text: str | None, alert: bool) -> None:
        with _translated():
            await self.bot.answer_callback_query(callback_id, text=text, show_alert=alert)


@contextmanager
def _translated() -> Iterator[None]:
    try:
        yield
    except TelegramAPIError as error:
        raise _send_error(error) from None


def _send_error(error: TelegramAPIError) -> SendError:
    if isinstance(error, TelegramRetryAfter):
        return RetryAfter(float(error.retry_after))
    if isinstance(error, TelegramForbiddenError):
        return Blocked(type(error).__name__)
    if isinstance(error, TelegramServerError):
        return NotDelivered(type(error).__name__)
    if isinstance(error, TelegramNetworkError):
        # Only a connection that was never made proves the message did not go out.
        never_sent = isinstance(error.__cause__, ClientConnectorError | ConnectionTimeoutError)
        name = type(error.__cause__).__name__
        return NotDelivered(name) if never_sent else DeliveryUnknown(name)
    return Rejected(type(error).__name__)


def _inline(reply: Reply) -> InlineKeyboardMarkup | None:
    if not reply.buttons:
        return None
    rows = [
        [InlineKeyboardButton(text=b.text, callback_data=b.data) for b in row]
        for row in reply.buttons
    ]
    return InlineKeyboardMarkup(inline_keyboard=rows)


def _markup(reply: Reply) -> InlineKeyboardMarkup | ReplyKeyboardMarkup | None:
    if reply.ask_contact:
        button = KeyboardButton(text=reply.ask_contact, request_contact=True)
        return ReplyKeyboardMarkup(
            keyboard=[[button]], resize_keyboard=True, one_time_keyboard=True
        )
    return _inline(reply)


class AiogramAdapter:
    """The aiogram side of ``privacy-bot run``."""

    def __init__(
        self,
        engine: FlowEngine,
        token: str,
        api_base: str,
        make_outbound: MakeOutbound = Outbound,
    ) -> None:
        pin_response_models()
        session = AiohttpSession(api=TelegramAPIServer.from_base(api_base))
        self.bot = Bot(token, session=session)
        self.dispatcher = Dispatcher()
        # One handler for every kind we serve; aiogram derives allowed_updates from these.
        for observer in (
            self.dispatcher.message,
            self.dispatcher.edited_message,
            self.dispatcher.callback_query,
        ):
            observer.register(self._on_event)
        self.engine = engine
        self.sender = AiogramSender(self.bot)
        self.outbound = make_outbound(self.sender)

    async def _on_event(self, _event: TelegramObject, event_update: Update) -> None:
        raw = event_update.model_dump(mode="json", by_alias=True, exclude_none=True)
        me = await self.bot.me()  # asked once, then cached by aiogram
        translated = incoming_from_update(raw, me.username)
        if translated is None:
            return
        event, callback_id = translated
        outcome = await self.engine.handle(event)
        await deliver(outcome, event, callback_id, self.outbound, self.engine.blocked)

    async def register_commands(self) -> None:
        for code, locale in MENU_LANGUAGES.items():
            commands = [BotCommand(command=c, description=d) for c, d in command_menu(locale)]
            with _translated():
                await self.bot.set_my_commands(commands, language_code=code)

    async def set_chat_commands(self, chat_id: int, commands: list[tuple[str, str]]) -> None:
        """A staff member's private menu (bot/background/staff_tasks.py decides what is in it)."""
        menu = [BotCommand(command=c, description=d) for c, d in commands]
        await self.bot.set_my_commands(menu, scope=BotCommandScopeChat(chat_id=chat_id))

    async def delete_chat_commands(self, chat_id: int) -> None:
        await self.bot.delete_my_commands(scope=BotCommandScopeChat(chat_id=chat_id))

    async def start_polling(self) -> None:
        await self.bot.delete_webhook()
        await self.dispatcher.start_polling(self.bot, handle_signals=False, close_bot_session=False)

    async def stop_polling(self) -> None:
        if self.dispatcher._running_lock.locked():
            await self.dispatcher.stop_polling()

    async def set_webhook(self, url: str, secret_token: str) -> None:
        await self.bot.set_webhook(url, secret_token=secret_token, drop_pending_updates=False)

    async def feed_webhook(self, payload: dict[str, Any]) -> None:
        update = Update.model_validate(payload, context={"bot": self.bot})
        await self.dispatcher.feed_update(self.bot, update)

    async def close(self) -> None:
        await self.outbound.close()
        await self.bot.session.close()
