"""``Outbound``: the one path every message of the bot takes, and its one retry policy.

A send waits in this process's queue for a permit of the bot's budget (shared
by all its processes, bot/outbound/budget.py), then leaves. What the platform
answers decides what follows (bot/outbound/kinds.py has the rules per kind):

- 429: the whole bot pauses for ``retry_after``, in every process, and the
  message waits its turn again;
- 5xx, or a connection never made: capped, jittered backoff, then again;
- 400 (rejected) and 403 (blocked): final; the caller marks a blocker unreachable;
- no answer after the request left: sent again only for kinds that must arrive
  (notices); a follow-up, an export or a reply is reported ``UNKNOWN`` instead.

A ``Marker`` (at-most-once kinds) is told when the send holds its permit,
immediately before the request leaves, and when it certainly did not leave: a
crash while waiting in the queue leaves no trace, so the send is simply retried.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from bot.conversation.events import Reply
from bot.http.metrics import Metrics
from bot.outbound.budget import Budget, LocalBudget
from bot.outbound.config import OutboundConfig
from bot.outbound.errors import (
    Blocked,
    DeliveryUnknown,
    NotDelivered,
    Rejected,
    RetryAfter,
    SendError,
)
from bot.outbound.kinds import RULES, Rule, SendKind
from bot.outbound.queue import Permit, SendQueue
from bot.outbound.sender import Sender
from core.services.outreach.followups import Delivery
from core.services.outreach.sending import PermitAsk

__all__ = ["MakeOutbound", "Marker", "Outbound"]

log = logging.getLogger("bot.outbound")

_BACKOFF_FIRST = 0.25
_BACKOFF_CAP = 5.0


class Marker(Protocol):
    """The at-most-once record of a send, kept truthful around each attempt."""

    async def sending(self) -> bool:
        """The send holds its permit and leaves next: record that (committed).
        False calls the send off (it is no longer wanted)."""
        ...

    async def not_sent(self) -> None:
        """It certainly did not leave (it will wait and try again): undo the record."""
        ...


@dataclass
class _Tries:
    rule: Rule
    failures: int = 0
    waited: float = 0.0

    def backoff(self) -> float | None:
        """Seconds to wait before the next try, or None when the tries are spent."""
        self.failures += 1
        if self.failures >= self.rule.attempts:
            return None
        ceiling = min(_BACKOFF_CAP, _BACKOFF_FIRST * 2.0 ** (self.failures - 1))
        return ceiling * random.uniform(0.5, 1.0)  # spreads retries apart


class Outbound:
    """Sends one message (or answers one button press); answers a ``Delivery`` and never
    raises for the platform's answers (only for bugs, and for a failing ``Marker``)."""

    def __init__(
        self,
        sender: Sender,
        config: OutboundConfig | None = None,
        metrics: Metrics | None = None,
        budget: Budget | None = None,
        channel: str = "telegram",  # the messaging app, for the metrics
    ) -> None:
        self.sender = sender
        self.channel = channel
        self.config = config or OutboundConfig()
        self.metrics = metrics or Metrics()
        self.queue = SendQueue(
            budget or LocalBudget(self.config), self.config.per_second, self.config.guard
        )
        self.metrics.watch(
            "privacy_outbound_queue", "Sends waiting for a permit, by priority", self._depths
        )
        self.metrics.watch(
            "privacy_outbound_pause_seconds",
            "Seconds every send still waits after the last 429",
            lambda: {(): self.queue.paused_for()},
        )

    async def send(
        self,
        chat_id: int,
        reply: Reply,
        kind: SendKind,
        *,
        marker: Marker | None = None,
        message_id: int | None = None,
    ) -> Delivery:
        """``message_id``: the message a reply with ``edit`` replaces (else it is sent new)."""
        rule, tries = RULES[kind], _Tries(RULES[kind])
        while True:
            permit = await self.queue.permit(PermitAsk(chat_id, rule.unprompted), rule.priority)
            if marker is not None and not await self._mark(marker, permit):
                return self._count(kind, Delivery.CALLED_OFF)
            try:
                stamped = await self.queue.depart(permit)
                try:
                    await self._call(chat_id, reply, message_id)
                finally:
                    await self.queue.answered(permit, stamped)
            except SendError as error:
                outcome = await self._after(error, kind, tries)
                if marker is not None and outcome in (None, Delivery.RETRY):
                    await marker.not_sent()
                if outcome is not None:
                    return self._count(kind, outcome)
                continue
            return self._count(kind, Delivery.SENT)

    async def answer_callback(self, callback_id: str, text: str | None, alert: bool) -> Delivery:
        """Stop a button's spinner (with a notice); not a message, so it takes no permit."""
        tries = _Tries(RULES[SendKind.CALLBACK])
        while True:
            try:
                await self.sender.answer_callback(callback_id, text, alert)
            except SendError as error:
                outcome = await self._after(error, SendKind.CALLBACK, tries)
                if outcome is None:
                    continue
                return self._count(SendKind.CALLBACK, outcome)
            return self._count(SendKind.CALLBACK, Delivery.SENT)

    async def close(self) -> None:
        await self.queue.close()

    async def _mark(self, marker: Marker, permit: Permit) -> bool:
        try:
            going = await marker.sending()
        except BaseException:
            await self.queue.give_back(permit)
            raise
        if not going:
            await self.queue.give_back(permit)
        return going

    async def _call(self, chat_id: int, reply: Reply, message_id: int | None) -> None:
        if reply.document is not None:
            name, content = reply.document
            await self.sender.send_document(chat_id, name, content, reply.text)
        elif reply.photo is not None:
            await self.sender.send_photo(chat_id, reply.photo, reply.text)
        elif reply.edit and message_id is not None:
            if not await self.sender.edit_text(chat_id, message_id, reply):
                await self.sender.send_text(chat_id, reply)  # too old to edit: a new one
        else:
            await self.sender.send_text(chat_id, reply)

    async def _after(self, error: SendError, kind: SendKind, tries: _Tries) -> Delivery | None:
        """What a failed attempt leads to: a final Delivery, or None to try again."""
        if isinstance(error, RetryAfter):
            self.metrics.inc("privacy_outbound_429_total", "429 answers", kind=kind.value)
            if tries.waited + error.seconds > tries.rule.max_wait:
                return Delivery.RETRY
            tries.waited += error.seconds
            if tries.rule.counted:
                await self.queue.pause(error.seconds)  # everyone waits, in every process
            else:
                await asyncio.sleep(error.seconds)
            return None
        if isinstance(error, Blocked):
            return Delivery.BLOCKED
        if isinstance(error, Rejected):
            log.warning("%s rejected: %s", kind.value, error)
            return Delivery.REJECTED
        if isinstance(error, DeliveryUnknown) and not tries.rule.resend_unknown:
            log.warning("%s delivery unknown, not resending: %s", kind.value, error)
            return Delivery.UNKNOWN
        assert isinstance(error, NotDelivered | DeliveryUnknown)
        wait = tries.backoff()
        if wait is None:
            log.warning("%s not delivered, tries spent: %s", kind.value, error)
            return Delivery.RETRY
        await asyncio.sleep(wait)
        return None

    def _count(self, kind: SendKind, outcome: Delivery) -> Delivery:
        self.metrics.inc(
            "privacy_outbound_sends_total",
            "Sends by messaging app, kind and outcome",
            channel=self.channel,
            kind=kind.value,
            outcome=outcome.value,
        )
        return outcome

    def _depths(self) -> dict[tuple[tuple[str, str], ...], float]:
        depth = self.queue.depth()
        return {(("priority", p.name.lower()),): float(n) for p, n in depth.items()}


MakeOutbound = Callable[[Sender], Outbound]  # how an adapter gets its path for its sender
