"""What both Telegram adapters share: Bot API update -> event, outcome -> API calls.

Each framework parses updates into its own objects; both can give them back as
Bot API JSON, so the translation is written once, here, over plain dicts. The
frameworks differ only in how a call is made, which ``Sender`` hides.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from bot.conversation import COMMAND_MENU, EventKind, Incoming, Outcome
from bot.outbound import Outbound, SendKind
from bot.render.i18n import Translator, locale_for
from core.services.outreach.followups import Delivery

__all__ = [
    "MENU_LANGUAGES",
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


def incoming_from_update(
    update: Mapping[str, Any], bot_username: str | None = None
) -> tuple[Incoming, str | None] | None:
    """The event and the callback query id (to answer), or None for updates we skip:
    among them a command addressed to another bot (``/queue@other_bot``)."""
    if "callback_query" in update:
        return _from_callback(update["callback_query"])
    for key, edited in (("message", False), ("edited_message", True)):
        if key in update:
            if _for_another_bot(update[key], bot_username):
                return None
            return _from_message(update[key], edited), None
    return None


def _for_another_bot(message: Mapping[str, Any], bot_username: str | None) -> bool:
    text = message.get("text")
    if not isinstance(text, str) or not text.startswith("/") or bot_username is None:
        return False
    _, at, target = text[1:].partition(" ")[0].partition("@")
    return bool(at) and target.casefold() != bot_username.casefold()


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
    outbound: Outbound,
    on_blocked: Callable[[Incoming], Awaitable[None]] | None = None,
) -> None:
    """Carry out the replies, in order, on the one outbound path (bot/outbound/).

    A button press is always answered (stops the spinner); a failed answer does not
    stop the replies. A 403 (the user blocked the bot) ends the replies and is
    reported to ``on_blocked``. Failures are logged there by kind, never with text.
    """
    if callback_id is not None:
        await outbound.answer_callback(callback_id, outcome.notice, outcome.alert)
    for reply in outcome.replies:
        delivery = await outbound.send(
            event.chat_id, reply, SendKind.REPLY, message_id=event.message_id
        )
        if delivery is Delivery.BLOCKED:
            if on_blocked is not None:
                await on_blocked(event)
            return  # the other replies cannot arrive either


def command_menu(locale: str) -> list[tuple[str, str]]:
    t = Translator(locale)
    return [(name, t(f"command.{name}")) for name in COMMAND_MENU]


def webhook_token(webhook_secret: str) -> str:
    """The secret_token given to setWebhook, derived from PRIVACY_WEBHOOK_SECRET."""
    return hmac.new(webhook_secret.encode(), b"telegram-webhook", hashlib.sha256).hexdigest()


def secret_matches(expected: str, given: str | None) -> bool:
    """Telegram's X-Telegram-Bot-Api-Secret-Token header, compared in constant time."""
    return given is not None and hmac.compare_digest(expected.encode(), given.encode())
