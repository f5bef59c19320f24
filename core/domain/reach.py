"""Where a message the shop sends unprompted can reach a customer, and in what form.

Telegram first (a bot may write to anyone who has not blocked it). On WhatsApp,
free-form messages go only within the 24-hour customer-service window since the
customer's last message; outside it only a pre-approved template, the one the
policy names for that kind of message (``[whatsapp.templates]``), or nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from core.domain.customer import ACTIVITY_RESOLUTION, Customer
from core.domain.policy import WhatsAppRules

__all__ = ["TELEGRAM", "WHATSAPP", "WHATSAPP_WINDOW", "Chat", "reach"]

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
    telegram = customer.telegram_chat_id
    if telegram is not None:
        return Chat(TELEGRAM, telegram)
    whatsapp = customer.whatsapp_id
    if whatsapp is None:
        return None
    last = customer.last_message_at
    if last is not None and now - last < WHATSAPP_WINDOW:
        return Chat(WHATSAPP, int(whatsapp))
    template = rules.template(kind, customer.language)
    return Chat(WHATSAPP, int(whatsapp), template) if template is not None else None
