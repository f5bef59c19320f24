"""The bot's sending budget: what may leave when, for one process or many on one database."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from core.app import PrivacyCore, open_core
from core.services.outreach.sending import (
    Grant,
    PermitAsk,
    TakePermits,
    give_back_permit,
    pause_sending,
    prepare_budget,
    stamp_departure,
    take_permits,
)
from core.settings import Settings
from core.storage.repositories.sending import MemorySendBudget
from core.storage.tables import SendChatRow

B = "telegram"
WINDOW, INTERVAL = 1.0, 1.0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def budget(size: int = 3) -> tuple[MemorySendBudget, Clock]:
    clock = Clock()
    store = MemorySendBudget(clock)
    await prepare_budget(B, size, store)
    return store, clock


def asks(*chats: int, exclusive: bool = True) -> TakePermits:
    return TakePermits(B, tuple(PermitAsk(c, exclusive) for c in chats), WINDOW, INTERVAL)


def granted(grants: tuple[Grant | None, ...]) -> int:
    return sum(grant is not None for grant in grants)


async def test_no_more_than_per_second_messages_leave_in_any_window() -> None:
    store, clock = await budget(3)
    first = await take_permits(asks(1, 2, 3, 4, 5), store)
    assert granted(first.grants) == 3
    assert first.waits[3] == pytest.approx(WINDOW)
    clock.now += 0.99
    assert granted((await take_permits(asks(4, 5), store)).grants) == 0
    clock.now += 0.01
    assert granted((await take_permits(asks(4, 5), store)).grants) == 2


async def test_a_permit_counts_its_window_from_when_its_message_left() -> None:
    store, clock = await budget(1)
    [grant] = (await take_permits(asks(1), store)).grants
    assert grant is not None
    clock.now += 0.5  # a marker was committed before the message left
    await stamp_departure(B, grant.slot, store)
    clock.now += 0.9
    taken = await take_permits(asks(2), store)
    assert taken.grants == (None,)
    assert taken.waits[0] == pytest.approx(0.1)


async def test_an_unprompted_message_waits_until_its_chat_was_quiet_for_the_interval() -> None:
    store, clock = await budget(10)
    assert granted((await take_permits(asks(7), store)).grants) == 1
    clock.now += 0.4
    second = await take_permits(asks(7, 8), store)
    assert second.grants[0] is None
    assert second.waits[0] == pytest.approx(0.6)
    assert second.grants[1] is not None  # another chat is not held up


async def test_two_unprompted_messages_to_one_chat_in_one_batch_go_one_at_a_time() -> None:
    store, _ = await budget(10)
    taken = await take_permits(asks(7, 7), store)
    assert granted(taken.grants) == 1


async def test_the_replies_of_one_turn_go_together_and_then_hold_the_chat() -> None:
    store, clock = await budget(10)
    replies = await take_permits(asks(7, 7, 7, exclusive=False), store)
    assert granted(replies.grants) == 3
    clock.now += 0.5
    follow_up = await take_permits(asks(7), store)
    assert follow_up.grants == (None,)  # not on top of the answer the customer is reading


async def test_a_pause_holds_every_permit_until_it_ends() -> None:
    store, clock = await budget(10)
    await pause_sending(B, 2.0, store)
    paused = await take_permits(asks(1, 2, exclusive=False), store)
    assert paused.grants == (None, None)
    assert paused.paused_for == pytest.approx(2.0)
    clock.now += 2.0
    assert granted((await take_permits(asks(1, 2, exclusive=False), store)).grants) == 2


async def test_a_permit_given_back_unused_is_free_at_once() -> None:
    store, _ = await budget(1)
    [grant] = (await take_permits(asks(1, exclusive=False), store)).grants
    assert grant is not None
    await give_back_permit(B, grant, WINDOW, store)
    assert granted((await take_permits(asks(2, exclusive=False), store)).grants) == 1


async def test_processes_on_one_database_never_get_more_permits_than_the_budget_holds(
    core: PrivacyCore, settings: Settings
) -> None:
    others = [await open_core(settings) for _ in range(2)]

    async def grab(process: PrivacyCore) -> int:
        cmd = TakePermits(B, tuple(PermitAsk(n, False) for n in range(8)), 5.0, INTERVAL)
        async with process.uow() as uow:
            await prepare_budget(B, 10, uow.sending)
            await uow.commit()
        total = 0
        for _ in range(3):
            async with process.uow() as uow:
                total += granted((await take_permits(cmd, uow.sending)).grants)
                await uow.commit()
        return total

    try:
        counts = await asyncio.gather(*(grab(p) for p in (core, *others)))
    finally:
        for other in others:
            await other.close()
    assert sum(counts) == 10  # a 5 s window: the ten permits, once each


async def test_the_database_keeps_chats_only_as_keyed_hashes(core: PrivacyCore) -> None:
    async with core.uow() as uow:
        await prepare_budget(B, 5, uow.sending)
        await take_permits(asks(123456789), uow.sending)
        await uow.commit()
    async with core.uow() as uow:
        [chat] = await uow.session.scalars(select(SendChatRow.chat))
    assert "123456789" not in chat
    assert len(chat) == 64


async def early_grant() -> tuple[MemorySendBudget, Grant]:
    """A one-permit budget used 0.9 s ago, and its permit granted with a 0.2 s lead."""
    store, clock = await budget(1)
    await take_permits(asks(1, exclusive=False), store)
    clock.now += 0.9
    early = TakePermits(B, (PermitAsk(2, False),), WINDOW, INTERVAL, lead=0.2)
    [grant] = (await take_permits(early, store)).grants
    assert grant is not None
    return store, grant


async def test_a_permit_granted_early_says_when_its_message_may_leave() -> None:
    _, grant = await early_grant()
    assert grant.leave_in == pytest.approx(0.1)  # one window after the last departure


async def test_an_early_permit_given_back_frees_no_earlier_than_before() -> None:
    store, grant = await early_grant()
    await give_back_permit(B, grant, WINDOW, store)
    assert (await take_permits(asks(3, exclusive=False), store)).grants == (None,)


async def test_a_budget_far_larger_than_telegrams_is_kept_in_the_database(
    core: PrivacyCore,
) -> None:
    async with core.uow() as uow:
        await prepare_budget(B, 12_000, uow.sending)  # more rows than one INSERT may bind
        taken = await take_permits(asks(*range(50), exclusive=False), uow.sending)
        await uow.commit()
    assert granted(taken.grants) == 50
