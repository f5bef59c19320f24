"""The sends of this process waiting for a permit, best first.

One task asks the budget for all of them together, in priority order (a reply
to a customer in the chat before any background send, notices before bulk
follow-ups), so a burst of thousands of follow-ups never stands between a
customer and their answer: the follow-ups get what the replies leave.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections import Counter
from dataclasses import dataclass, field

from bot.outbound.budget import Budget
from bot.outbound.kinds import Priority
from core.services.outreach.sending import Grant, PermitAsk, Taken

__all__ = ["Permit", "SendQueue"]

log = logging.getLogger("bot.outbound")

# A message leaving this long after its permit's moment restamps the permit (its
# marker took longer than the lead): the window counts from its real departure.
_RESTAMP_AFTER = 0.002
_BUDGET_DOWN_RETRY = 1.0
_CATCH_UP = 2  # background sends a late queue may let go at once to keep the pace


@dataclass(frozen=True)
class Permit:
    grant: Grant
    granted_at: float  # monotonic
    leave_at: float  # monotonic: not before this
    paced: bool = False  # a background send: it set the pace for the next one


@dataclass(eq=False)
class _Waiter:
    ask: PermitAsk
    priority: Priority
    seq: int
    future: asyncio.Future[Permit]
    not_before: float = 0.0


@dataclass
class SendQueue:
    """Background sends are paced (one per 1/``batch`` s) rather than let go in bursts: a
    burst queues inside the HTTP client, and its last request arrives long after its
    permit was stamped, closer than a window to the next one. Replies are not paced."""

    budget: Budget
    batch: int  # at most this many asked for at once (the budget's size)
    guard: float = 0.02  # jitter between a request leaving and arriving that the window covers
    _waiting: list[_Waiter] = field(default_factory=list)
    _seq: itertools.count[int] = field(default_factory=itertools.count)
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None
    _paused_until: float = 0.0  # monotonic, as last heard from the budget
    _returns: set[asyncio.Task[None]] = field(default_factory=set)
    _next_background: float = 0.0  # monotonic: when the next background send may be granted

    async def permit(self, ask: PermitAsk, priority: Priority) -> Permit:
        """Wait for this send's turn; the permit must be used or given back."""
        loop = asyncio.get_running_loop()
        waiter = _Waiter(ask, priority, next(self._seq), loop.create_future())
        self._waiting.append(waiter)
        self._wake.set()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="outbound queue")
        try:
            return await waiter.future
        except asyncio.CancelledError:
            self._forget(waiter)
            raise

    async def depart(self, permit: Permit) -> float:
        """Immediately before the request leaves: waits for the permit's moment (and the
        end of a pause a 429 began meanwhile); when the permit was stamped (monotonic)."""
        # A pause may be extended while we sleep (another 429): hence the loop.
        while (wait := max(permit.leave_at, self._paused_until) - time.monotonic()) > 0:  # noqa: ASYNC110
            await asyncio.sleep(wait)
        stamped = time.monotonic()
        if stamped - permit.leave_at > _RESTAMP_AFTER:
            await self.budget.depart(permit.grant.slot)
        else:
            stamped = permit.leave_at
        return stamped

    async def answered(self, permit: Permit, stamped: float) -> None:
        """The platform answered (``stamped``: when the permit was stamped). A slow answer
        means the request may have arrived late (it queued in the HTTP client, or on the
        way): the permit's window then counts from the answer, the latest it arrived."""
        if time.monotonic() - stamped > self.guard:
            await self.budget.answered(permit.grant.slot)

    async def give_back(self, permit: Permit) -> None:
        if permit.paced:  # nothing left with it: the next background send need not wait
            self._next_background = min(self._next_background, permit.granted_at)
        await self.budget.give_back(permit.grant)

    async def pause(self, seconds: float) -> None:
        self._paused_until = max(self._paused_until, time.monotonic() + seconds)
        await self.budget.pause(seconds)

    def depth(self) -> Counter[Priority]:
        return Counter(w.priority for w in self._waiting)

    def paused_for(self) -> float:
        return max(0.0, self._paused_until - time.monotonic())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while self._waiting:
            self._wake.clear()
            batch, background = self._ready()
            if batch and await self._grant(batch, background):
                continue  # permits were free: there may be more
            await self._sleep()

    def _ready(self) -> tuple[list[_Waiter], bool]:
        """Who may ask now: the best priority waiting, one unprompted send per chat."""
        now = time.monotonic()
        self._waiting.sort(key=lambda w: (w.priority, w.seq))
        ready = [w for w in self._waiting if w.not_before <= now]
        if not ready:
            return [], False
        best = ready[0].priority
        if best is Priority.CONVERSATION:
            ready = [w for w in ready if w.priority is best]
        elif now < self._next_background:
            return [], True
        else:
            ready = ready[:1]
        chats: set[int] = set()
        batch = []
        for w in ready:
            if w.ask.exclusive and w.ask.chat in chats:
                continue
            chats.add(w.ask.chat)
            batch.append(w)
        return batch[: self.batch], best is not Priority.CONVERSATION

    async def _grant(self, batch: list[_Waiter], background: bool) -> bool:
        # The budget's clock was read as it was asked: a moment it names counts from
        # here, so a slow answer makes the permit late (restamped), never early.
        asked = time.monotonic()
        try:
            taken = await self.budget.take([w.ask for w in batch], background=background)
        except Exception as error:  # the database is away: everyone waits, nobody is lost
            log.error("send budget unavailable: %s", type(error).__name__)
            taken = Taken((None,) * len(batch), (_BUDGET_DOWN_RETRY,) * len(batch))
        now = time.monotonic()
        if taken.paused_for:
            self._paused_until = max(self._paused_until, now + taken.paused_for)
        granted = False
        for waiter, grant, wait in zip(batch, taken.grants, taken.waits, strict=True):
            if grant is None:
                waiter.not_before = now + max(wait, 0.001)
                continue
            if waiter in self._waiting:
                self._waiting.remove(waiter)
            paced = waiter.priority is not Priority.CONVERSATION
            if paced:  # the pace is kept on average: a late wake-up may catch up a little
                start = max(self._next_background, now - _CATCH_UP / self.batch)
                self._next_background = start + 1.0 / self.batch
            granted = True
            permit = Permit(grant, now, asked + grant.leave_in, paced)
            if waiter.future.done():  # its sender was cancelled meanwhile
                await self.give_back(permit)
            else:
                waiter.future.set_result(permit)
        return granted

    async def _sleep(self) -> None:
        if not self._waiting:
            return
        wait = min(map(self._due, self._waiting)) - time.monotonic()
        if wait <= 0:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), wait)

    def _due(self, waiter: _Waiter) -> float:
        if waiter.priority is Priority.CONVERSATION:
            return waiter.not_before
        return max(waiter.not_before, self._next_background)

    def _forget(self, waiter: _Waiter) -> None:
        if waiter in self._waiting:
            self._waiting.remove(waiter)
        elif waiter.future.done() and not waiter.future.cancelled():
            # Granted as it was cancelled: the permit goes back.
            task = asyncio.create_task(self.give_back(waiter.future.result()))
            self._returns.add(task)
            task.add_done_callback(self._returns.discard)
