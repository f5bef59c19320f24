"""Use case: a message a platform delivered is handled once, however often it arrives.

WhatsApp redelivers a webhook until it hears 200, so the same message can come
twice; its id is noted (hashed) in the turn's own transaction, kept 7 days.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta

from core.storage import UnitOfWork

__all__ = ["SEEN_MESSAGE_TTL", "FirstDelivery", "first_delivery"]

SEEN_MESSAGE_TTL = timedelta(days=7)


@dataclass(frozen=True)
class FirstDelivery:
    channel: str
    message_id: str


async def first_delivery(cmd: FirstDelivery, uow: UnitOfWork) -> bool:
    """True the first time this message arrives; False for a redelivery."""
    digest = hashlib.sha256(f"{cmd.channel}:{cmd.message_id}".encode()).hexdigest()
    return await uow.seen_messages.first_time(digest, uow.now())
