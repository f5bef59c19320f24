"""Where a message the shop sends unprompted can reach a customer, and in what form.

WhatsApp while its 24-hour customer-service window is open (the customer is writing
there: free-form messages may go), else Telegram (a bot may write to anyone who has
not blocked it), else WhatsApp outside the window: only the pre-approved template the
policy names for that kind of message (``[whatsapp.templates]``), or nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from core.domain.customer import ACTIVITY_RESOLUTION, Customer
from core.domain.policy import WhatsAppRules

__all__ = ["TELEGRAM", "WHATSAPP", "WHATSAPP_WINDOW", "Chat", "no_chat_reason", "reach"]

TELEGRAM, WHATSAPP = "telegram", "whatsapp"
# Less the resolution last_message_at is kept to: never a minute past the real window.
WHATSAPP_WINDOW = timedelta(hours=24) - ACTIVITY_RESOLUTION


@dataclass(frozen=True)
class Chat:
    channel: str
    id: int
    template: tuple[str, str] | None = None  # (name, language code): outside the window

    @property
    def free_form(self) -> bool:
        return self.template is None


def reach(customer: Customer, kind: str, rules: WhatsAppRules, now: datetime) -> Chat | None:
    """The chat for an unprompted message of ``kind`` (see UNPROMPTED_KINDS), or None."""
    telegram, whatsapp = customer.telegram_chat_id, customer.whatsapp_id
    last = customer.last_message_at
    open_window = whatsapp is not None and last is not None and now - last < WHATSAPP_WINDOW
    if open_window:  # they are writing on WhatsApp now: answer where they are
        assert whatsapp is not None
        return Chat(WHATSAPP, int(whatsapp))
    if telegram is not None:
        return Chat(TELEGRAM, telegram)
    if whatsapp is None:
        return None
    template = rules.template(kind, customer.language)
    return Chat(WHATSAPP, int(whatsapp), template) if template is not None else None


def no_chat_reason(customer: Customer) -> str:
    """Why ``reach`` found no chat: WhatsApp's window closed without a template, or none."""
    return "outside_window" if customer.whatsapp_id is not None else "no_channel"
