"""What both Telegram adapters share: Bot API update -> event, outcome -> API calls.

Each framework parses updates into its own objects; both can give them back as
Bot API JSON, so the translation is written once, here, over plain dicts. The
frameworks differ only in how a call is made, which ``Sender`` hides.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol, TypeVar

from bot.conversation import COMMAND_MENU, EventKind, Incoming, Outcome, Reply
from bot.render.i18n import Translator, locale_for

__all__ = [
    "CALLBACK_RETRIES",
    "MENU_LANGUAGES",
    "REPLY_RETRIES",
    "Blocked",
    "DeliveryUnknown",
    "NotDelivered",
    "Rejected",
    "Retries",
    "RetryAfter",
    "SendError",
    "Sender",
    "command_menu",
    "deliver",
    "incoming_from_update",
    "secret_matches",
    "send_with_retries",
    "webhook_token",
]

log = logging.getLogger("bot.telegram")

# setMyCommands takes two-letter codes only: "zh" gets what locale_for("zh") gives;
# everyone else the default English menu.
MENU_LANGUAGES: dict[str | None, str] = {None: "en", "zh": locale_for("zh")}

_UNSUPPORTED = (
    "sticker",
    "photo",
    "voice",
    "video",
    "audio",
    "document",
    "animation",
    "video_note",
    "location",
    "venue",
    "poll",
    "dice",
    "game",
)


class Sender(Protocol):
    """How an adapter makes each call; every method raises only ``SendError`` subclasses
    for Telegram's answers and network failures (translated once, in the adapter)."""

    async def send_text(self, chat_id: int, reply: Reply) -> None: ...
    async def edit_text(self, chat_id: int, message_id: int, reply: Reply) -> bool: ...
    async def send_document(
        self, chat_id: int, name: str, content: bytes, caption: str
    ) -> None: ...
    async def send_photo(self, chat_id: int, content: bytes, caption: str) -> None: ...
    async def answer_callback(self, callback_id: str, text: str | None, alert: bool) -> None: ...


def incoming_from_update(update: Mapping[str, Any]) -> tuple[Incoming, str | None] | None:
    """The event and the callback query id (to answer), or None for updates we skip."""
    if "callback_query" in update:
        return _from_callback(update["callback_query"])
    for key, edited in (("message", False), ("edited_message", True)):
        if key in update:
            return _from_message(update[key], edited), None
    return None


def _from_callback(query: Mapping[str, Any]) -> tuple[Incoming, str | None]:
    user = query.get("from") or {}
    message = query.get("message") or {}
    chat = message.get("chat") or {}
    event = Incoming(
        user_id=int(user.get("id", 0)),
        chat_id=int(chat.get("id", user.get("id", 0))),
        kind=EventKind.BUTTON,
        data=str(query.get("data") or ""),
        message_id=message.get("message_id"),
        language_code=user.get("language_code"),
        private=chat.get("type", "private") == "private",
        from_bot=bool(user.get("is_bot")),
    )
    return event, str(query.get("id"))


def _from_message(message: Mapping[str, Any], edited: bool) -> Incoming:
    user = message.get("from") or {}
    chat = message.get("chat") or {}
    common: dict[str, Any] = {
        "user_id": int(user.get("id", chat.get("id", 0))),
        "chat_id": int(chat.get("id", 0)),
        "language_code": user.get("language_code"),
        "private": chat.get("type") == "private",
        "from_bot": bool(user.get("is_bot")),
    }
    if edited:
        return Incoming(kind=EventKind.EDITED, **common)
    text = message.get("text")
    if isinstance(text, str) and text.startswith("/"):
        head, _, args = text[1:].partition(" ")
        name = head.split("@", 1)[0].lower()
        return Incoming(kind=EventKind.COMMAND, text=name, args=args.strip(), **common)
    if isinstance(text, str):
        return Incoming(kind=EventKind.TEXT, text=text, **common)
    contact = message.get("contact")
    if isinstance(contact, Mapping):
        return Incoming(
            kind=EventKind.CONTACT,
            contact_phone=str(contact.get("phone_number") or ""),
            contact_user_id=contact.get("user_id"),
            **common,
        )
    kinds = [k for k in _UNSUPPORTED if k in message]
    log.info("unsupported message kind=%s", kinds[0] if kinds else "other")
    return Incoming(kind=EventKind.UNSUPPORTED, **common)


async def deliver(
    outcome: Outcome,
    event: Incoming,
    callback_id: str | None,
    sender: Sender,
    on_blocked: Callable[[Incoming], Awaitable[None]] | None = None,
) -> None:
    """Carry out the replies; a button press is always answered (stops the spinner).

    Telegram's refusals are survived by the rules bot/background/outbound.py applies to
    proactive messages (``send_with_retries``): 429 waits ``retry_after``, 5xx and
    connections never made are retried. A reply whose answer was lost (timeout, dropped connection)
    may have arrived, so it is not sent again; a failed callback answer does not
    stop the replies. Failures are logged by kind, never with the text. A 403 (the
    user blocked the bot) ends the replies and is reported to ``on_blocked``.
    """
    if callback_id is not None:
        answer = partial(sender.answer_callback, callback_id, outcome.notice, outcome.alert)
        try:
            await send_with_retries(answer, CALLBACK_RETRIES)
        except SendError as error:
            _log_failure("callback answer", error)
    for reply in outcome.replies:
        try:
            await _send_reply(reply, event, sender)
        except Blocked as error:
            _log_failure("reply", error)
            if on_blocked is not None:
                await on_blocked(event)
            return  # the user blocked the bot: the other replies cannot arrive either
        except SendError as error:
            _log_failure("reply", error)


async def _send_reply(reply: Reply, event: Incoming, sender: Sender) -> None:
    chat = event.chat_id
    if reply.document is not None:
        name, content = reply.document
        await send_with_retries(partial(sender.send_document, chat, name, content, reply.text))
    elif reply.photo is not None:
        await send_with_retries(partial(sender.send_photo, chat, reply.photo, reply.text))
    else:
        if reply.edit and event.message_id is not None:
            edit = partial(sender.edit_text, chat, event.message_id, reply)
            if await send_with_retries(edit):
                return
        await send_with_retries(partial(sender.send_text, chat, reply))


def _log_failure(what: str, error: SendError) -> None:
    outcome = "unknown" if isinstance(error, DeliveryUnknown) else "not delivered"
    log.warning("%s %s kind=%s (%s)", what, outcome, type(error).__name__, error)


def command_menu(locale: str) -> list[tuple[str, str]]:
    t = Translator(locale)
    return [(name, t(f"command.{name}")) for name in COMMAND_MENU]


def webhook_token(webhook_secret: str) -> str:
    """The secret_token given to setWebhook, derived from PRIVACY_WEBHOOK_SECRET."""
    return hmac.new(webhook_secret.encode(), b"telegram-webhook", hashlib.sha256).hexdigest()


def secret_matches(expected: str, given: str | None) -> bool:
    """Telegram's X-Telegram-Bot-Api-Secret-Token header, compared in constant time."""
    return given is not None and hmac.compare_digest(expected.encode(), given.encode())


# --- what a send can learn, the same for both frameworks ------------------------------
# Every Sender method (and ``send_out``) raises these, so retries are decided here and in
# bot/background/outbound.py, once for both frameworks.


class SendError(Exception):
    """A message was not (known to be) delivered. Messages name classes, never texts."""


class RetryAfter(SendError):
    """429: Telegram refused the message (not delivered); wait ``seconds`` and retry."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"retry after {seconds}s")
        self.seconds = seconds


class Blocked(SendError):
    """403: the user blocked the bot (or deleted their account); do not send again."""


class Rejected(SendError):
    """400 and the like: the request itself is wrong; retrying will not help."""


class NotDelivered(SendError):
    """5xx, or the connection was never made: certainly not delivered; safe to retry."""


class DeliveryUnknown(SendError):
    """The request went out but no answer came (timeout, dropped connection)."""


# --- retrying a reply ------------------------------------------------------------------
# The rules of bot/background/outbound.py's ``Outbound.send`` (which also pauses its rate limiter
# and counts metrics), for replies to a user's update, which bypass that limiter.


@dataclass(frozen=True)
class Retries:
    """How hard one send is pushed through Telegram's refusals."""

    attempts: int = 4  # tries in all when the answer proves it was not delivered (5xx)
    max_wait: float = 30.0  # total retry_after seconds honoured before giving up
    backoff: float = 0.25  # first pause after a 5xx; doubles each time


REPLY_RETRIES = Retries()
# A button's spinner stops on its own; the replies must not wait long behind it.
CALLBACK_RETRIES = Retries(attempts=2, max_wait=2.0)

T = TypeVar("T")


async def send_with_retries(
    send: Callable[[], Awaitable[T]], retries: Retries = REPLY_RETRIES
) -> T:
    """``send()`` until it succeeds; RetryAfter waits, NotDelivered backs off and retries.

    Raises at once what a retry cannot mend or would duplicate (DeliveryUnknown,
    Blocked, Rejected), and the last error when the budget is spent.
    """
    failures, waited = 0, 0.0
    while True:
        try:
            return await send()
        except RetryAfter as error:
            if waited + error.seconds > retries.max_wait:
                raise
            waited += error.seconds
            await asyncio.sleep(error.seconds)
        except NotDelivered:
            failures += 1
            if failures >= retries.attempts:
                raise
            await asyncio.sleep(retries.backoff * 2 ** (failures - 1))
