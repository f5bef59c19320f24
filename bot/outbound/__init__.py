"""Everything the bot sends, on one path: the platform's limits kept for the whole bot.

``Outbound.send`` takes every message: replies in a turn, follow-ups, notices,
exports, staff messages and the digest (``SendKind``); ``Outbound.answer_callback``
stops a button's spinner. Limits, per bot and shared by all its processes
(``budget_for``): ``PRIVACY_OUTBOUND_PER_SECOND`` messages a second (default 30)
and one unprompted message a second per chat; the replies of one turn go
together. Replies go first, notices next, bulk follow-ups fill the rest.

What a ``Sender`` raises (one tree for every framework; ``Outbound`` turns each
into a ``Delivery`` and never lets them out)::

    SendError
    ├── RetryAfter        429: not delivered; everyone waits ``seconds``, then again
    ├── Blocked           403: the user blocked the bot; final
    ├── Rejected          400 and the like: the request is wrong; final
    ├── NotDelivered      5xx, or never connected: certainly not delivered; again
    └── DeliveryUnknown   sent, no answer: again only for kinds that must arrive
"""

from __future__ import annotations

from bot.outbound.budget import Budget, LocalBudget, SharedBudget, budget_for
from bot.outbound.config import OutboundConfig
from bot.outbound.errors import (
    Blocked,
    DeliveryUnknown,
    NotDelivered,
    Rejected,
    RetryAfter,
    SendError,
)
from bot.outbound.kinds import Priority, SendKind
from bot.outbound.outbound import MakeOutbound, Marker, Outbound
from bot.outbound.sender import Sender, Unconfigured

__all__ = [
    "Blocked",
    "Budget",
    "DeliveryUnknown",
    "LocalBudget",
    "MakeOutbound",
    "Marker",
    "NotDelivered",
    "Outbound",
    "OutboundConfig",
    "Priority",
    "Rejected",
    "RetryAfter",
    "SendError",
    "SendKind",
    "Sender",
    "SharedBudget",
    "Unconfigured",
    "budget_for",
]
