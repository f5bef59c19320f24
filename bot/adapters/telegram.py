"""What both Telegram adapters share: Bot API update -> event, outcome -> API calls.

Each framework parses updates into its own objects; both can give them back as
Bot API JSON, so the translation is written once, here, over plain dicts. The
frameworks differ only in how a call is made, which ``Sender`` hides.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Mapping
from typing import Any, Protocol

from bot.flows import COMMAND_MENU, EventKind, Incoming, Outcome, Reply
from bot.i18n import Translator, locale_for

__all__ = [
    "MENU_LANGUAGES",
    "Blocked",
    "DeliveryUnknown",
    "NotDelivered",
    "Rejected",
    "RetryAfter",
    "SendError",
    "Sender",
    "command_menu",
    "deliver",
    "incoming_from_update",
    "secret_matches",
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
    outcome: Outcome, event: Incoming, callback_id: str | None, sender: Sender
) -> None:
    """Carry out the replies; a button press is always answered (stops the spinner)."""
    if callback_id is not None:
        await sender.answer_callback(callback_id, outcome.notice, outcome.alert)
    for reply in outcome.replies:
        if reply.document is not None:
            name, content = reply.document
            await sender.send_document(event.chat_id, name, content, reply.text)
        elif reply.photo is not None:
            await sender.send_photo(event.chat_id, reply.photo, reply.text)
        elif reply.edit and event.message_id is not None:
            if not await sender.edit_text(event.chat_id, event.message_id, reply):
                await sender.send_text(event.chat_id, reply)
        else:
            await sender.send_text(event.chat_id, reply)


def command_menu(locale: str) -> list[tuple[str, str]]:
    t = Translator(locale)
    return [(name, t(f"command.{name}")) for name in COMMAND_MENU]


def webhook_token(webhook_secret: str) -> str:
    """The secret_token given to setWebhook, derived from PRIVACY_WEBHOOK_SECRET."""
    return hmac.new(webhook_secret.encode(), b"telegram-webhook", hashlib.sha256).hexdigest()


def secret_matches(expected: str, given: str | None) -> bool:
    """Telegram's X-Telegram-Bot-Api-Secret-Token header, compared in constant time."""
    return given is not None and hmac.compare_digest(expected.encode(), given.encode())


# --- what a proactive send can learn, the same for both frameworks -------------------
# Senders' ``send_out`` raise these so bot/outbound.py decides retries once, for both.


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
