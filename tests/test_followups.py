"""Follow-ups end to end: scheduled by a purchase, sent once by the worker, stoppable."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import timedelta

from bot.background.outreach import send_followup, send_notice
from bot.background.worker import Worker
from bot.conversation import EventKind, FlowEngine, Incoming, consent
from bot.conversation.routes import ROUTES, build_route_map
from bot.conversation.turn import Turn
from bot.outbound import Outbound, OutboundConfig
from core.app import PrivacyCore, open_core
from core.clock import FixedClock
from core.domain.customer import IdentityKind
from core.services import (
    DecideConsent,
    current_consents,
    decide_consent,
    find_customer,
    survey_answers,
    verify_audit,
)
from core.services.outreach.followups import FOLLOWUP
from core.services.outreach.notices import NOTIFY, NotifyCustomer, notify_customer
from core.settings import Settings
from core.storage.tables import FollowupRow
from tests.fake_telegram import FakeTelegram
from tests.followup_support import (
    buy,
    commit_fails_once,
    customer,
    freeze,
    jobs,
    run_steps,
)
from tests.outbound_support import real_sender, recording


@asynccontextmanager
async def worker(core: PrivacyCore, fake: FakeTelegram, **config: float) -> AsyncIterator[Worker]:
    async with real_sender("ptb", fake) as sender:
        w = Worker(core, Outbound(sender, OutboundConfig(**config)), poll=0.05)  # type: ignore[arg-type]
        w.start()
        try:
            yield w
        finally:
            await w.stop()


async def settled(core: PrivacyCore, timeout: float = 20.0) -> None:  # noqa: ASYNC109
    """Wait until no follow-up job is pending or running."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while any(j.state in ("pending", "running") for j in await jobs(core)):
        assert loop.time() < deadline, "follow-ups did not settle"
        await asyncio.sleep(0.05)


async def followup_state(core: PrivacyCore, order_id: str) -> str:
    async with core.uow() as uow:
        row = await uow.session.get(FollowupRow, order_id)
        assert row is not None
        return row.state


async def send_due(core: PrivacyCore, fake: FakeTelegram, clock: FixedClock) -> None:
    """Past the follow-up delay (10 minutes): a worker sends what is due, then stops."""
    clock.advance(timedelta(minutes=11))
    async with worker(core, fake):
        await settled(core)


async def actions(core: PrivacyCore) -> list[str]:
    from core.services import audit_tail

    async with core.uow() as uow:
        return [e.action for e in await audit_tail(500, uow)]


async def test_scheduled_followup_is_sent_once_with_buttons_and_audited(
    core: PrivacyCore, fake_telegram: FakeTelegram
) -> None:
    clock = freeze(core)
    await customer(core, 7001)
    assert await buy(core, "A-1", 7001) == "scheduled"
    await send_due(core, fake_telegram, clock)
    [message] = fake_telegram.messages(7001)
    assert "Thank you for your order" in message["text"]
    assert "reply_markup" in message
    assert await followup_state(core, "A-1") == "sent"
    assert "followup.sent" in await actions(core)


async def test_followup_withdrawn_before_sending_is_not_sent(
    core: PrivacyCore, fake_telegram: FakeTelegram
) -> None:
    clock = freeze(core)
    ref = await customer(core, 7001)
    await buy(core, "A-1", 7001)
    clock.advance(timedelta(minutes=1))  # the ledger orders decisions by time
    async with core.uow() as uow:
        await decide_consent(DecideConsent(ref, "follow_up", False), uow)
        await uow.commit()
    clock.advance(timedelta(minutes=10))
    async with worker(core, fake_telegram):
        await settled(core)
    assert fake_telegram.messages(7001) == []
    assert await followup_state(core, "A-1") == "suppressed"
    assert "followup.suppressed" in await actions(core)


async def test_followup_withdrawn_while_it_waits_for_its_permit_is_not_sent(
    core: PrivacyCore,
) -> None:
    clock = freeze(core)
    ref = await customer(core, 7001)
    await buy(core, "A-1", 7001)
    clock.advance(timedelta(minutes=11))
    outbound, sent = recording()
    await outbound.queue.pause(1.0)  # a 429 just now: every send waits
    step = asyncio.create_task(run_steps(core, FOLLOWUP, send_followup, outbound))
    await asyncio.sleep(0.3)
    clock.advance(timedelta(minutes=1))
    async with core.uow() as uow:
        await decide_consent(DecideConsent(ref, "follow_up", False), uow)
        await uow.commit()
    await step
    assert sent.sent == []
    assert await followup_state(core, "A-1") == "suppressed"


async def press(core: PrivacyCore, user_id: int, data: str) -> list[str]:
    event = Incoming(user_id=user_id, chat_id=user_id, kind=EventKind.BUTTON, data=data)
    outcome = await FlowEngine(core).handle(event)
    return [reply.text for reply in outcome.replies]


def buttons(message: dict[str, object]) -> list[str]:
    markup = message["reply_markup"]
    assert isinstance(markup, dict)
    return [b["callback_data"] for row in markup["inline_keyboard"] for b in row]


async def test_stop_button_withdraws_followup_consent_with_a_receipt(
    core: PrivacyCore, fake_telegram: FakeTelegram
) -> None:
    clock = freeze(core)
    ref = await customer(core, 7001)
    await buy(core, "A-1", 7001)
    await send_due(core, fake_telegram, clock)
    [message] = fake_telegram.messages(7001)
    stop = next(d for d in buttons(message) if "|fx|" in d)
    texts = await press(core, 7001, stop)
    assert any("Receipt" in text for text in texts)
    async with core.uow() as uow:
        assert not (await current_consents(ref, uow))["follow_up"].given


async def answer_happy(core: PrivacyCore, fake: FakeTelegram, ref: str) -> str:
    """Press "happy" on the follow-up in chat 7001; the satisfaction answer then kept."""
    [message] = fake.messages(7001)
    happy = next(d for d in buttons(message) if d.endswith("satisfaction:happy"))
    await press(core, 7001, happy)
    async with core.uow() as uow:
        answers = await survey_answers(ref, "followup", uow)
    return str(answers["satisfaction"].value)


async def test_answer_buttons_become_preference_data(
    core: PrivacyCore, fake_telegram: FakeTelegram
) -> None:
    clock = freeze(core)
    ref = await customer(core, 7001)
    await buy(core, "A-1", 7001)
    await send_due(core, fake_telegram, clock)
    assert await answer_happy(core, fake_telegram, ref) == "happy"


async def test_forged_followup_button_is_refused(core: PrivacyCore) -> None:
    freeze(core)
    ref = await customer(core, 7001)
    await press(core, 7001, "AAAAAAAA|fx|")
    async with core.uow() as uow:
        assert (await current_consents(ref, uow))["follow_up"].given


async def test_blocked_customer_is_marked_unreachable_and_audited(
    core: PrivacyCore, fake_telegram: FakeTelegram
) -> None:
    clock = freeze(core)
    await customer(core, 7001)
    await buy(core, "A-1", 7001)
    fake_telegram.block_user(7001)
    await send_due(core, fake_telegram, clock)
    async with core.uow() as uow:
        found = await find_customer(IdentityKind.TELEGRAM, "7001", uow)
    assert found is not None
    assert found.flags.unreachable
    assert {"customer.unreachable", "followup.failed"} <= set(await actions(core))


async def test_followup_with_unknown_delivery_is_never_sent_twice(
    core: PrivacyCore, fake_telegram: FakeTelegram
) -> None:
    clock = freeze(core)
    await customer(core, 7001)
    await buy(core, "A-1", 7001)
    fake_telegram.drop_next("sendMessage", after_processing=True)
    await send_due(core, fake_telegram, clock)
    assert len(fake_telegram.messages(7001)) == 1
    assert await followup_state(core, "A-1") == "uncertain"


async def many(core: PrivacyCore, n: int) -> list[int]:
    users = [20_000 + i for i in range(n)]
    for user in users:
        await customer(core, user)
        await buy(core, f"M-{user}", user)
    return users


async def test_restart_mid_queue_loses_and_duplicates_nothing(
    core: PrivacyCore, fake_telegram: FakeTelegram
) -> None:
    clock = freeze(core)
    users = await many(core, 24)
    clock.advance(timedelta(minutes=11))
    async with worker(core, fake_telegram, per_second=8):
        await fake_telegram.wait_for("sendMessage", count=8, timeout=20)
    # The first worker stopped with part of the queue sent; a new one takes over.
    async with worker(core, fake_telegram):
        await settled(core)
    assert [len(fake_telegram.messages(u)) for u in users] == [1] * len(users)
    async with core.uow() as uow:
        assert (await verify_audit(uow)).ok


async def test_two_processes_on_one_database_send_each_followup_once(
    core: PrivacyCore, settings: Settings, fake_telegram: FakeTelegram
) -> None:
    clock = freeze(core)
    users = await many(core, 30)
    clock.advance(timedelta(minutes=11))
    other = await open_core(settings)
    other.clock = clock
    try:
        async with worker(core, fake_telegram), worker(other, fake_telegram):
            await settled(core)
    finally:
        await other.close()
    assert [len(fake_telegram.messages(u)) for u in users] == [1] * len(users)


async def test_a_blocked_customer_who_writes_again_is_reachable_again(
    core: PrivacyCore, fake_telegram: FakeTelegram
) -> None:
    clock = freeze(core)
    await customer(core, 7001)
    await buy(core, "A-1", 7001)
    fake_telegram.block_user(7001)
    await send_due(core, fake_telegram, clock)
    await press(core, 7001, "AAAAAAAA|fx|")  # any message: they unblocked the bot
    async with core.uow() as uow:
        found = await find_customer(IdentityKind.TELEGRAM, "7001", uow)
    assert found is not None
    assert not found.flags.unreachable
    assert "customer.reachable" in await actions(core)


# --- a step that dies before its commit -------------------------------------------------


async def test_followup_whose_step_died_after_sending_is_not_sent_again(
    core: PrivacyCore,
) -> None:
    clock = freeze(core)
    await customer(core, 7001)
    await buy(core, "A-1", 7001)
    clock.advance(timedelta(minutes=11))
    outbound, sent = recording()
    await run_steps(core, FOLLOWUP, commit_fails_once(send_followup), outbound)
    await run_steps(core, FOLLOWUP, send_followup, outbound)  # the retry finds the marker
    assert [chat for chat, _ in sent.sent] == [7001]
    assert await followup_state(core, "A-1") == "uncertain"
    [job] = await jobs(core)
    assert job.state == "failed"  # closed, not left to run again


async def test_a_followup_step_commits_its_marker_then_its_outcome_and_nothing_else(
    core: PrivacyCore,
) -> None:
    clock = freeze(core)
    await customer(core, 7001)
    await buy(core, "A-1", 7001)
    clock.advance(timedelta(minutes=11))
    [step] = await run_steps(core, FOLLOWUP, send_followup)
    assert step.writing == 2  # the "sending" marker, then the outcome with the completion
    assert await followup_state(core, "A-1") == "sent"


async def _notice(core: PrivacyCore, telegram_id: int) -> None:
    ref = await customer(core, telegram_id, follow_up=False)
    async with core.uow() as uow:
        await notify_customer(
            NotifyCustomer(ref, "rights.notice.export_uncertain", "n-1", {"request": "R-1"}),
            uow,
        )
        await uow.commit()


async def test_a_notice_whose_step_died_after_sending_still_arrives_and_is_closed(
    core: PrivacyCore,
) -> None:
    freeze(core)
    await _notice(core, 7001)
    outbound, sent = recording()
    await run_steps(core, NOTIFY, commit_fails_once(send_notice), outbound)
    await run_steps(core, NOTIFY, send_notice, outbound)
    # At least once: sent again rather than risk never; one audited delivery.
    assert [chat for chat, _ in sent.sent] == [7001, 7001]
    assert (await actions(core)).count("notice.sent") == 1
    [job] = await jobs(core, NOTIFY)
    assert job.state == "done"


async def test_a_notice_step_is_one_transaction(core: PrivacyCore) -> None:
    freeze(core)
    await _notice(core, 7001)
    [step] = await run_steps(core, NOTIFY, send_notice)
    assert step.writing == 1
    [job] = await jobs(core, NOTIFY)
    assert job.state == "done"


async def test_a_followup_sent_while_the_customer_is_mid_turn_keeps_its_buttons_working(
    core: PrivacyCore, fake_telegram: FakeTelegram
) -> None:
    """The worker writes the follow-up's keyboard token into the customer's state while
    their own turn is open: the turn must not save its older state over it."""
    clock = freeze(core)
    ref = await customer(core, 7001)
    await buy(core, "A-1", 7001)
    clock.advance(timedelta(minutes=11))
    inside, release = asyncio.Event(), asyncio.Event()

    async def slow_privacy(turn: Turn) -> None:
        inside.set()
        await release.wait()
        await consent.show_privacy(turn)

    commands = tuple(
        (owner, {**routes, "privacy": slow_privacy} if owner == "consent" else routes)
        for owner, routes in ROUTES.commands
    )
    engine = FlowEngine(core, routes=build_route_map(replace(ROUTES, commands=commands)))
    event = Incoming(user_id=7001, chat_id=7001, kind=EventKind.COMMAND, text="privacy")
    turn = asyncio.create_task(engine.handle(event))
    await inside.wait()
    async with worker(core, fake_telegram):
        sending = asyncio.create_task(settled(core))
        await asyncio.sleep(0.5)  # the worker reaches the follow-up while the turn is open
        release.set()
        await turn
        await sending
    assert await answer_happy(core, fake_telegram, ref) == "happy"
