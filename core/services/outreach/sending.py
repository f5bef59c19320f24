"""Use cases of the sending budget every process of one bot shares (bot/outbound/).

A budget is a ring of ``per_second`` permits, each stamped with when its last
message left: a message may leave only with a permit whose last message left at
least one window (a second and a guard) earlier, so no window ever sees more
than ``per_second`` departures from all processes together. A permit can be
granted up to ``lead`` seconds before it frees, with the moment it may leave:
the sender records its marker meanwhile, so the permit is not idle while it
does. An unprompted message also needs its chat: one such message per chat in
``chat_interval``, counting replies just sent there. A 429 pauses the whole
budget. Each function works on a ``SendBudgetStore``: the database's
(``uow.sending``, in one short transaction the caller commits) or one in memory.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.storage.repositories.sending import SendBudgetStore

__all__ = [
    "Grant",
    "PermitAsk",
    "TakePermits",
    "Taken",
    "give_back_permit",
    "pause_sending",
    "prepare_budget",
    "purge_send_chats",
    "stamp_answer",
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
    window: float  # a permit is free again this long after its message left
    chat_interval: float
    lead: float = 0.0  # how early a permit may be granted before it frees


@dataclass(frozen=True)
class Grant:
    slot: int
    leave_in: float  # seconds from now until the message may leave (0: at once)
    leave_at: float  # the same moment on the store's clock (to give the permit back)


@dataclass(frozen=True)
class Taken:
    """Per ask, in order: its grant, or None and how long to wait before asking again."""

    grants: tuple[Grant | None, ...]
    waits: tuple[float, ...]
    paused_for: float = 0.0  # the whole budget is paused this much longer (a 429)


async def prepare_budget(budget: str, size: int, store: SendBudgetStore) -> None:
    await store.ensure_ring(budget, max(1, size))


async def take_permits(cmd: TakePermits, store: SendBudgetStore) -> Taken:
    asks = cmd.asks
    now = await store.clock()
    paused = await store.paused_until(cmd.budget)
    if paused > now:
        wait = paused - now
        return Taken((None,) * len(asks), (wait,) * len(asks), paused_for=wait)
    taken = await store.take(cmd.budget, len(asks), now - cmd.window + cmd.lead, now, cmd.window)
    first = asks[: len(taken)]
    # Counted from the latest moment a message granted now may leave.
    hold_until = now + cmd.lead + cmd.chat_interval
    wanted = [a.chat for a in first if a.exclusive]
    claimed = await store.claim_chats(cmd.budget, wanted, now, hold_until)
    grants = [Grant(slot, max(0.0, at - now), at) for slot, at in taken]
    assigned, busy, unused = _assign(first, grants, claimed)
    await store.give_back(cmd.budget, [(g.slot, g.leave_at - cmd.window) for g in unused])
    replies = [
        a.chat for a, g in zip(first, assigned, strict=True) if g is not None and not a.exclusive
    ]
    await store.hold_chats(cmd.budget, replies, hold_until)
    waits = await _waits(cmd, now, assigned, busy, store)
    return Taken(tuple(assigned) + (None,) * (len(asks) - len(first)), waits)


def _assign(
    asks: tuple[PermitAsk, ...], grants: list[Grant], claimed: set[int]
) -> tuple[list[Grant | None], set[int], list[Grant]]:
    """Grants to the asks that may go, the busy chats, and the grants left over."""
    free, assigned, busy = list(grants), list[Grant | None](), set[int]()
    for ask in asks:
        if ask.exclusive and ask.chat not in claimed:
            busy.add(ask.chat)
            assigned.append(None)
            continue
        claimed.discard(ask.chat)  # the chat's one unprompted message in this batch
        assigned.append(free.pop(0))
    return assigned, busy, free


async def _waits(
    cmd: TakePermits,
    now: float,
    assigned: list[Grant | None],
    busy: set[int],
    store: SendBudgetStore,
) -> tuple[float, ...]:
    chat_free = await store.chats_free_at(cmd.budget, sorted(busy)) if busy else {}
    ring_free = 0.0
    if len(assigned) < len(cmd.asks):
        next_free = await store.next_free(cmd.budget) + cmd.window - cmd.lead
        ring_free = max(0.0, next_free - now)
    waits = []
    for n, ask in enumerate(cmd.asks):
        if n >= len(assigned):
            waits.append(ring_free)
        elif assigned[n] is None:
            waits.append(max(0.0, chat_free.get(ask.chat, now) - now))
        else:
            waits.append(0.0)
    return tuple(waits)


async def stamp_departure(budget: str, slot: int, store: SendBudgetStore) -> None:
    """The message with this permit leaves now; its window counts from here."""
    await store.stamp(budget, slot)


async def stamp_answer(budget: str, slot: int, store: SendBudgetStore) -> None:
    """A slow answer came back now: the message arrived by now at the latest, so the
    permit's window counts from here (unless it was stamped later since)."""
    await store.stamp_later(budget, slot)


async def give_back_permit(
    budget: str, grant: Grant, window: float, store: SendBudgetStore
) -> None:
    """A permit granted but not used (the send was called off): as it was before."""
    await store.give_back(budget, [(grant.slot, grant.leave_at - window)])


async def pause_sending(budget: str, seconds: float, store: SendBudgetStore) -> None:
    """Telegram said 429: nothing of this bot leaves, from any process, for ``seconds``."""
    await store.pause(budget, seconds)


async def purge_send_chats(store: SendBudgetStore) -> int:
    """Forget chats whose hold ended a minute ago (they are free either way)."""
    return await store.purge_chats(await store.clock() - 60.0)
