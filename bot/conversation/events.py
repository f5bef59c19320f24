"""What a channel hands the flows, and what the flows hand back.

Adapters (aiogram, python-telegram-bot, console) translate their updates into an
``Incoming`` and carry out the ``Reply`` list; nothing else crosses the boundary.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

__all__ = ["WHATSAPP", "Button", "EventKind", "Incoming", "Outcome", "Reply"]

WHATSAPP = "whatsapp"  # an Incoming's channel; the others: "telegram", "console"


class EventKind(StrEnum):
    COMMAND = "command"
    TEXT = "text"
    BUTTON = "button"
    CONTACT = "contact"
    UNSUPPORTED = "unsupported"  # stickers, photos, voice, ...
    EDITED = "edited"


@dataclass(frozen=True)
class Incoming:
    user_id: int
    chat_id: int
    kind: EventKind
    text: str = ""  # the command name (without "/") or the message text
    args: str = ""  # what follows a command
    data: str = ""  # a button's payload: untrusted bytes from the client
    message_id: int | None = None  # the message that carried the pressed button
    contact_phone: str | None = None
    contact_user_id: int | None = None
    language_code: str | None = None
    private: bool = True
    from_bot: bool = False
    channel: str = "telegram"
    platform_id: str | None = None  # the platform's message id, where it redelivers (WhatsApp)
    sent_at: datetime | None = None  # when the person sent it, where the platform says (WhatsApp)


@dataclass(frozen=True)
class Button:
    text: str
    data: str


@dataclass(frozen=True)
class Reply:
    text: str = ""
    buttons: tuple[tuple[Button, ...], ...] = ()
    edit: bool = False  # replace the message whose button was pressed
    document: tuple[str, bytes] | None = None  # (file name, content)
    photo: bytes | None = None
    ask_contact: str | None = None  # label of a "share my contact" keyboard button
    # WhatsApp outside the 24-hour window: the approved template (name, language code)
    # that carries ``text`` as its one parameter (core/domain/reach.py decides).
    template: tuple[str, str] | None = None


@dataclass
class Outcome:
    """The replies to send, and the short notice answering a button press."""

    replies: list[Reply] = field(default_factory=list)
    notice: str | None = None
    alert: bool = False
