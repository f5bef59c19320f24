"""Use cases of the sending budget every process of one bot shares (bot/outbound/).

A budget is a ring of ``per_second`` permits: a message may leave only with a
permit whose last use is at least one window (a second and a guard) old, so no
window ever sees more than ``per_second`` departures from all processes
together. An unprompted message also needs its chat: one such message per chat
in ``chat_interval``, counting replies just sent there. A 429 pauses the whole
budget. Each function works on a ``SendBudgetStore``: the database's
(``uow.sending``, in one short transaction the caller commits) or one in memory.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.storage.repositories.sending import SendBudgetStore

__all__ = [
    "PermitAsk",
    "TakePermits",
    "Taken",
    "give_back_permit",
    "pause_sending",
    "prepare_budget",
    "purge_send_chats",
    "stamp_departure",
    "take_permits",
]


@dataclass(frozen=True)
class PermitAsk:
    chat: int
    exclusive: bool  # unprompted: the chat must have been quiet for chat_interval


@dataclass(frozen=True)
class TakePermits:
    budget: str
    asks: tuple[PermitAsk, ...]  # best first
    window: float  # a permit is free again this long after its last use
    chat_interval: float


@dataclass(frozen=True)
class Taken:
    """Per ask, in order: its permit (a slot number), or None and how long to wait."""

    slots: tuple[int | None, ...]
    waits: tuple[float, ...]
    paused_for: float = 0.0  # the whole budget is paused this much longer (a 429)


async def prepare_budget(budget: str, size: int, store: SendBudgetStore) -> None:
    await store.ensure_ring(budget, max(1, size))


async def take_permits(cmd: TakePermits, store: SendBudgetStore) -> Taken:
    repo, asks = store, cmd.asks
    now = await repo.clock()
    paused = await repo.paused_until(cmd.budget)
    if paused > now:
        wait = paused - now
        return Taken((None,) * len(asks), (wait,) * len(asks), paused_for=wait)
    slots = await repo.take(cmd.budget, len(asks), now - cmd.window, now)
    first = asks[: len(slots)]
    hold_until = now + cmd.chat_interval
    wanted = [a.chat for a in first if a.exclusive]
    claimed = await repo.claim_chats(cmd.budget, wanted, now, hold_until)
    granted, busy, unused = _assign(first, slots, claimed)
    await repo.give_back(cmd.budget, unused)
    replies = [
        a.chat for a, s in zip(first, granted, strict=True) if s is not None and not a.exclusive
    ]
    await repo.hold_chats(cmd.budget, replies, hold_until)
    waits = await _waits(cmd, now, granted, busy, store)
    return Taken(tuple(granted) + (None,) * (len(asks) - len(first)), waits)


def _assign(
    asks: tuple[PermitAsk, ...], slots: list[int], claimed: set[int]
) -> tuple[list[int | None], set[int], list[int]]:
    """Slots to the asks that may go, the busy chats, and the slots left over."""
    free, granted, busy = list(slots), list[int | None](), set[int]()
    for ask in asks:
        if ask.exclusive and ask.chat not in claimed:
            busy.add(ask.chat)
            granted.append(None)
            continue
        claimed.discard(ask.chat)  # the chat's one unprompted message in this batch
        granted.append(free.pop(0))
    return granted, busy, free


async def _waits(
    cmd: TakePermits, now: float, granted: list[int | None], busy: set[int], repo: SendBudgetStore
) -> tuple[float, ...]:
    chat_free = await repo.chats_free_at(cmd.budget, sorted(busy)) if busy else {}
    ring_free = 0.0
    if len(granted) < len(cmd.asks):
        ring_free = max(0.0, await repo.next_free(cmd.budget) + cmd.window - now)
    waits = []
    for n, ask in enumerate(cmd.asks):
        if n >= len(granted):
            waits.append(ring_free)
        elif granted[n] is None:
            waits.append(max(0.0, chat_free.get(ask.chat, now) - now))
        else:
            waits.append(0.0)
    return tuple(waits)


async def stamp_departure(budget: str, slot: int, store: SendBudgetStore) -> None:
    """The message with this permit leaves now; its window counts from here."""
    await store.stamp(budget, slot)


async def give_back_permit(budget: str, slot: int, store: SendBudgetStore) -> None:
    """A permit taken but not used (the send was called off): free at once."""
    await store.give_back(budget, [slot])


async def pause_sending(budget: str, seconds: float, store: SendBudgetStore) -> None:
    """Telegram said 429: nothing of this bot leaves, from any process, for ``seconds``."""
    await store.pause(budget, seconds)


async def purge_send_chats(store: SendBudgetStore) -> int:
    """Forget chats whose hold ended a minute ago (they are free either way)."""
    return await store.purge_chats(await store.clock() - 60.0)
