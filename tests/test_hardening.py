"""Hardening (issue 7): faults during conversations, a crowd of purchase callbacks,
kill -9 of ``privacy-bot run`` mid-work, and two processes on one PostgreSQL database.

Every wait is bounded; the kill -9 trials are marked slow (CI runs them too).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import subprocess
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import func, select

from bot.http.app import build_app
from bot.http.metrics import Metrics
from bot.http.purchase import PurchaseHook, sign
from bot.render.i18n import Translator
from core.app import PrivacyCore, open_core
from core.domain.customer import IdentityKind
from core.domain.requests import RequestState
from core.services import verify_audit
from core.services.rights.erasure import RequestErasure, request_erasure
from core.services.rights.export import RequestExport, request_export
from core.settings import Settings
from core.storage.tables import FollowupRow, JobRow, PurchaseRow
from tests.chat_drivers import TelegramDriver, free_port, hook_deliver
from tests.conftest import POSTGRES_URL
from tests.fake_telegram import FakeTelegram
from tests.followup_support import SECRET, customer, purchase_body
from tests.process_support import (
    PRIVACY_BOT,
    BotProcess,
    bot_env,
    let_time_pass,
    post_purchases,
    until_all_jobs_finish,
)
from tests.rights_helpers import add_purchases, approve

ROOT = Path(__file__).resolve().parent.parent
ALICE, BOB = 5101, 5102


# --- 1. faults while a customer talks to the bot --------------------------------------


@dataclass
class TwoChats:
    """Alice meets the faults; Bob, after her, shows what a clean run sends."""

    fake: FakeTelegram
    alice: TelegramDriver
    bob: TelegramDriver

    def texts(self, driver: TelegramDriver) -> list[str]:
        return [m.text for m in driver.messages]


@pytest.fixture
async def chats(
    framework: str,
    core: PrivacyCore,
    fake_telegram: FakeTelegram,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[TwoChats]:
    processed = hook_deliver(monkeypatch, framework)
    alice = TelegramDriver(core, fake_telegram, framework, processed, ALICE)
    bob = TelegramDriver(core, fake_telegram, framework, processed, BOB)
    await alice.start()  # one running bot serves both users
    try:
        yield TwoChats(fake_telegram, alice, bob)
    finally:
        await alice.close()


async def test_429_storm_during_start_delivers_every_reply_exactly_once(chats: TwoChats) -> None:
    chats.fake.fail_next("sendMessage", 429, times=3, retry_after=1)
    await chats.alice.send("/start")
    chats.fake.clear_faults()  # whatever Alice's replies did not use up must not hit Bob
    await chats.bob.send("/start")
    assert len(chats.fake.calls_to("sendMessage")) > 3  # the storm really hit the replies
    assert chats.texts(chats.alice)
    assert chats.texts(chats.alice) == chats.texts(chats.bob)


async def test_server_errors_during_start_are_retried_and_delivered_once(chats: TwoChats) -> None:
    chats.fake.fail_next("sendMessage", 502, times=2)
    await chats.alice.send("/start")
    chats.fake.clear_faults()  # whatever Alice's replies did not use up must not hit Bob
    await chats.bob.send("/start")
    assert [c.status for c in chats.fake.calls_to("sendMessage")][:2] == [502, 502]
    assert chats.texts(chats.alice) == chats.texts(chats.bob)


async def test_reply_whose_answer_was_dropped_is_not_sent_twice(chats: TwoChats) -> None:
    # Telegram delivered the message, then the connection died before its answer.
    chats.fake.drop_next("sendMessage", after_processing=True)
    await chats.alice.send("/start")
    chats.fake.clear_faults()  # whatever Alice's replies did not use up must not hit Bob
    await chats.bob.send("/start")
    to_alice = [c for c in chats.fake.calls_to("sendMessage") if c.chat_id == ALICE]
    assert len(to_alice) == len(chats.texts(chats.alice))  # no resend
    assert chats.texts(chats.alice) == chats.texts(chats.bob)


async def test_reply_with_unknown_outcome_is_logged_by_kind_without_its_text(
    chats: TwoChats, caplog: pytest.LogCaptureFixture
) -> None:
    chats.fake.drop_next("sendMessage", after_processing=True)
    with caplog.at_level(logging.WARNING, logger="bot.outbound"):
        await chats.alice.send("/start")
    [record] = [r for r in caplog.records if r.name == "bot.outbound"]
    assert "reply delivery unknown, not resending" in record.getMessage()
    assert not any(text[:20] in record.getMessage() for text in chats.texts(chats.alice))


async def test_failed_callback_answer_does_not_stop_the_replies(
    chats: TwoChats, core: PrivacyCore
) -> None:
    await chats.alice.send("/start")
    chats.fake.fail_next("answerCallbackQuery", 500, times=5)
    await chats.alice.press("Offers and news")
    answers = chats.fake.calls_to("answerCallbackQuery")
    assert answers
    assert all(c.status == 500 for c in answers)
    assert "Consent given" in chats.texts(chats.alice)[-1]


async def test_reply_that_timed_out_after_delivery_is_not_sent_twice(
    chats: TwoChats,
) -> None:
    if chats.alice.framework == "aiogram":
        # The adapter offers no request timeout (aiogram's session default is 60 s), and
        # the brief allows none to be added for a test: a timeout cannot be made bounded.
        pytest.skip("aiogram adapter: request timeout not configurable (60 s default)")
    # PTB's own default read timeout is 5 s: the answer comes after it, the message is in.
    chats.fake.delay_next("sendMessage", 6.0, after_processing=True)
    await chats.alice.send("/start")
    chats.fake.clear_faults()  # whatever Alice's replies did not use up must not hit Bob
    await chats.bob.send("/start")
    to_alice = [c for c in chats.fake.calls_to("sendMessage") if c.chat_id == ALICE]
    assert to_alice[0].status == 0  # abandoned by the client: the outcome was unknown
    assert len(to_alice) == len(chats.texts(chats.alice))
    assert chats.texts(chats.alice) == chats.texts(chats.bob)


async def test_a_reply_held_up_by_telegram_does_not_hold_up_other_customers(
    chats: TwoChats,
) -> None:
    await chats.alice.send("/start")
    await chats.bob.send("/start")
    alice_before = len(chats.texts(chats.alice))
    # Telegram is slow to take Alice's reply (under PTB's 5 s read timeout, past which
    # the reply's outcome would be unknown and it would never be resent).
    chats.fake.delay_next("sendMessage", 3.5)
    chats.fake.push_command(ALICE, "/help")
    async with asyncio.timeout(10):
        while not any(  # her reply has reached Telegram, which holds it
            c.chat_id == ALICE and c.status is None for c in chats.fake.calls_to("sendMessage")
        ):
            await asyncio.sleep(0.02)
    await chats.bob.send("/help")  # answered while Alice's reply is still held
    assert len(chats.texts(chats.alice)) == alice_before
    await chats.alice.processed.wait_for(chats.alice.processed.count + 1)
    assert chats.texts(chats.alice)[-1] == chats.texts(chats.bob)[-1]  # the same help, later


async def test_a_reply_refused_because_the_customer_blocked_the_bot_marks_them_unreachable(
    chats: TwoChats, core: PrivacyCore
) -> None:
    await chats.alice.send("/start")
    chats.fake.fail_next("sendMessage", 403, description="Forbidden: bot was blocked by the user")
    await chats.alice.send("/privacy")
    async with core.uow() as uow:
        alice = await uow.customers.find(IdentityKind.TELEGRAM, str(ALICE))
        [entry] = [e for e in await uow.audit.tail(5) if e.action == "customer.unreachable"]
    assert alice is not None
    assert alice.flags.unreachable  # no follow-up or notice goes to her now
    assert entry.subject_ref == alice.ref
    await chats.alice.send("/help")  # writing again proves she unblocked it
    async with core.uow() as uow:
        alice = await uow.customers.find(IdentityKind.TELEGRAM, str(ALICE))
    assert alice is not None
    assert not alice.flags.unreachable


# --- 2. a crowd of purchase callbacks ------------------------------------------------


@contextlib.asynccontextmanager
async def purchase_server(core: PrivacyCore) -> AsyncIterator[str]:
    """``POST /hooks/purchase`` on a real TCP port of 127.0.0.1; yields the base URL."""
    hook = PurchaseHook(core, SECRET, timedelta(hours=1), Metrics())
    runner = web.AppRunner(build_app(Metrics(), purchase=hook), access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def test_200_concurrent_callbacks_process_each_order_once_and_refuse_bad_signatures(
    core: PrivacyCore,
) -> None:
    rng = random.Random(7)
    valid = [f"C-{n}" for n in range(204)]
    users = [60_000 + n for n in range(len(valid))]
    for user in users:
        await customer(core, user)
    now = int(time.time())
    bought = datetime.now(UTC).isoformat()
    posts: list[tuple[str, bytes, str, bool]] = []  # order, body, signature, good
    for order, user in zip(valid, users, strict=True):
        raw = json.dumps(purchase_body(order, user, purchased_at=bought)).encode()
        posts.append((order, raw, sign(SECRET, raw, now), True))
    for order in rng.sample(valid, 24):  # 10%: the same order again, freshly signed
        user = users[valid.index(order)]
        raw = json.dumps(purchase_body(order, user, purchased_at=bought)).encode()
        posts.append((order, raw, sign(SECRET, raw, now - rng.randint(1, 60)), True))
    for n in range(12):  # 5%: signed with the wrong secret
        raw = json.dumps(purchase_body(f"BAD-{n}", users[n], purchased_at=bought)).encode()
        posts.append((f"BAD-{n}", raw, sign("not-the-secret", raw, now), False))
    rng.shuffle(posts)

    async with purchase_server(core) as base:
        connector = aiohttp.TCPConnector(limit=200)
        timeout = aiohttp.ClientTimeout(total=60)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

            async def one(raw: bytes, signature: str) -> tuple[int, str]:
                headers = {"X-Privacy-Signature": signature, "Content-Type": "application/json"}
                async with session.post(f"{base}/hooks/purchase", data=raw, headers=headers) as r:
                    body = await r.json()
                    return r.status, str(body.get("status", ""))

            started = time.monotonic()
            async with asyncio.timeout(60):
                answers = await asyncio.gather(*(one(raw, sig) for _, raw, sig, _ in posts))

    print(f"{len(posts)} callbacks in {time.monotonic() - started:.2f}s")
    per_order: dict[str, list[tuple[int, str]]] = {}
    for (order, _, _, good), answer in zip(posts, answers, strict=True):
        per_order.setdefault(order, []).append(answer)
        if not good:
            assert answer[0] == 401, (order, answer)
    for order in valid:
        statuses = Counter(per_order[order])
        assert statuses[(202, "scheduled")] == 1, (order, statuses)
        assert sum(statuses.values()) - 1 == statuses[(202, "duplicate")], (order, statuses)
    async with core.uow() as uow:
        orders = sorted(await uow.session.scalars(select(PurchaseRow.order_id)))
        followups = await uow.session.scalar(select(func.count()).select_from(FollowupRow))
        jobs = list(await uow.session.scalars(select(JobRow.key).where(JobRow.kind == "followup")))
        assert (await verify_audit(uow)).ok
    assert orders == sorted(valid)
    assert followups == len(valid)
    assert sorted(jobs) == sorted(f"followup:{order}" for order in valid)


# --- 3 and 4. ``privacy-bot run`` as a real process -------------------------------------


@dataclass
class Work:
    """What the trials asked for, to check at the end."""

    followups: dict[str, int] = field(default_factory=dict)  # order -> chat
    exports: dict[str, int] = field(default_factory=dict)  # request ref -> chat
    erasures: dict[str, str] = field(default_factory=dict)  # request ref -> customer ref

    @property
    def erased_customers(self) -> set[str]:
        return set(self.erasures.values())


async def seed_trial(
    core: PrivacyCore, work: Work, trial: int, buyers: list[tuple[str, int]]
) -> None:
    """Buyers who agreed to follow-ups, and one export and one erasure approved by staff."""
    for _, user in buyers:
        await customer(core, user)
    export_user, erase_user = 80_000 + trial, 90_000 + trial
    ref = await customer(core, export_user)
    await add_purchases(core, ref, [f"X-{trial}-{n}" for n in range(3)])
    async with core.uow() as uow:
        request, background = await request_export(RequestExport(ref), uow)
        await uow.commit()
    assert background
    await approve(core, request.ref)
    work.exports[request.ref] = export_user
    ref = await customer(core, erase_user)
    await add_purchases(core, ref, [f"E-{trial}-{n}" for n in range(2)])
    async with core.uow() as uow:
        request, _ = await request_erasure(RequestErasure(ref), uow)
        await uow.commit()
    await approve(core, request.ref)
    work.erasures[request.ref] = ref


def slow_telegram(fake: FakeTelegram, rng: random.Random) -> None:
    """Sends take a while, and the answer of some is lost with the process: the kill
    lands mid-send (before Telegram took the message, or after)."""
    fake.clear_faults()
    after = rng.random() < 0.5
    fake.delay_next("sendMessage", rng.uniform(0.05, 0.4), times=100, after_processing=after)
    fake.delay_next("sendDocument", rng.uniform(0.05, 0.4), times=20, after_processing=after)


def audit_verify_cli(env: dict[str, str], workdir: Path) -> None:
    done = subprocess.run(
        [PRIVACY_BOT, "audit", "verify"],
        env=env, cwd=str(workdir), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.slow
async def test_kill_9_at_random_moments_then_every_job_finishes_once_and_audit_verifies(
    shop_settings: Settings, fake_telegram: FakeTelegram, tmp_path: Path
) -> None:
    rng = random.Random(20261129)
    core = await open_core(shop_settings)  # creates the schema and the key file first
    bot = BotProcess(bot_env(fake_telegram, shop_settings), tmp_path)
    work = Work()
    trials, started = 20, time.monotonic()
    try:
        for trial in range(trials):
            buyers = [(f"F-{trial}-{n}", 70_000 + 10 * trial + n) for n in range(4)]
            slow_telegram(fake_telegram, rng)
            # New work is seeded while the process starts (and may already take it).
            await asyncio.gather(bot.start(), seed_trial(core, work, trial, buyers))
            await post_purchases(bot.base, buyers)
            work.followups.update(buyers)
            await asyncio.sleep(rng.uniform(0.0, 0.8))
            await bot.kill()
            await let_time_pass(core, leases=True)
        fake_telegram.clear_faults()
        await bot.start()
        jobs = await until_all_jobs_finish(core, timeout=60)
        await bot.stop()
        await check_kill_trials(core, fake_telegram, work, jobs)
    finally:
        await bot.stop()
        await core.close()
    audit_verify_cli(bot.env, tmp_path)
    print(f"{trials} kill -9 trials in {time.monotonic() - started:.1f}s")


async def check_kill_trials(
    core: PrivacyCore, fake: FakeTelegram, work: Work, jobs: list[JobRow]
) -> None:
    async with core.uow() as uow:
        rows = {r.order_id: r for r in await uow.session.scalars(select(FollowupRow))}
        uow.session.expunge_all()
    states = Counter(rows[order].state for order in work.followups)
    print(f"follow-ups: {dict(states)}")
    assert set(states) <= {"sent", "uncertain"}, states
    for order, chat in work.followups.items():
        received = len(fake.messages(chat))
        assert received <= 1, (order, received)  # never twice
        if rows[order].state == "sent":
            assert received == 1, order
    for job in jobs:
        if job.state == "failed":  # only the two documented terminal failures
            if job.kind == "followup":
                assert rows[str(job.payload["order"])].state == "uncertain"
            else:
                assert job.kind == "notify", (job.kind, job.last_error)
                assert job.payload["customer"] in work.erased_customers
    copies = {
        chat: sum("document" in m for m in fake.messages(chat)) for chat in work.exports.values()
    }
    exports: Counter[str] = Counter()
    async with core.uow() as uow:
        for ref, chat in work.exports.items():
            request = await uow.requests.get(ref)
            assert request.state is RequestState.COMPLETED
            assert copies[chat] <= 1, (ref, copies[chat])  # at most once
            texts = [str(m.get("text", "")) for m in fake.messages(chat)]
            language = (await uow.customers.get(request.customer_ref)).language
            notice = Translator(language)("rights.notice.export_uncertain", request=ref)
            if await uow.requests.delivery(ref) == "uncertain":
                # Maybe arrived, never confirmed: told so instead of a second copy.
                assert notice in texts, ref
                exports[f"uncertain, document {'arrived' if copies[chat] else 'lost'}"] += 1
            else:
                assert copies[chat] == 1, ref
                assert notice not in texts, ref
                exports["delivered"] += 1
    print(f"exports: {dict(exports)}; delivered twice: {sum(n > 1 for n in copies.values())}")
    async with core.uow() as uow:
        for ref, customer_ref in work.erasures.items():
            assert (await uow.requests.get(ref)).state is RequestState.COMPLETED
            assert not await uow.customers.exists(customer_ref)
            assert not await uow.keys.exists(customer_ref)
        assert (await verify_audit(uow)).ok


@pytest.mark.skipif(not POSTGRES_URL, reason="set PRIVACY_TEST_POSTGRES_URL")
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_three_bot_processes_on_one_postgres_database_keep_the_limits_and_do_every_job_once(
    shop_settings: Settings, fake_telegram: FakeTelegram, tmp_path: Path
) -> None:
    core = await open_core(shop_settings)
    env = {
        **bot_env(fake_telegram, shop_settings),
        # Several processes sit behind a webhook (two long polls would end each other's).
        "PRIVACY_WEBHOOK_URL": "https://shop.example/bot",
    }
    # Telegram's limits, for the bot as a whole: the three share them through the database.
    fake_telegram.enforce_rate_limits(30, 1)
    bots = [BotProcess(env, tmp_path, name=name) for name in ("a", "b", "c")]
    work = Work()
    buyers = [(f"P-{n}", 100_000 + n) for n in range(150)]
    try:
        await asyncio.gather(*(b.start() for b in bots))
        for n in range(12):
            await seed_trial(core, work, n, buyers[n * 5 : n * 5 + 5])
        for _, user in buyers[60:]:
            await customer(core, user)
        # Each process takes a third of the callbacks, and wakes its own worker for them.
        await asyncio.gather(*(post_purchases(b.base, buyers[i::3]) for i, b in enumerate(bots)))
        work.followups.update(buyers)
        jobs = await until_all_jobs_finish(core, timeout=90)
        await asyncio.gather(*(b.stop() for b in bots))
        async with core.uow() as uow:
            followups = Counter(r.state for r in await uow.session.scalars(select(FollowupRow)))
            actions: Counter[tuple[str, str | None]] = Counter()
            for ref in work.erased_customers:
                actions.update((e.action, e.subject_ref) for e in await uow.audit.about(ref))
            assert (await verify_audit(uow)).ok
    finally:
        await asyncio.gather(*(b.stop() for b in bots))
        await core.close()
    workers = Counter(str(j.leased_by).split(":")[1] for j in jobs)
    print(f"jobs by process: {dict(workers)}; follow-ups {dict(followups)}")
    assert len(workers) == 3  # every process really took work
    assert fake_telegram.rate_limited_count == 0
    assert followups == {"sent": len(buyers)}
    assert all(j.state == "done" or j.kind == "notify" for j in jobs), Counter(
        (j.kind, j.state) for j in jobs
    )
    for _, chat in buyers:
        assert len(fake_telegram.messages(chat)) == 1, chat
        assert len(fake_telegram.sent_to(chat)) == 1, chat
    for chat in work.exports.values():
        assert sum("document" in m for m in fake_telegram.messages(chat)) == 1, chat
    for customer_ref in work.erased_customers:
        assert actions[("erasure.completed", customer_ref)] == 1, customer_ref
        assert actions[("erasure.key_shredded", customer_ref)] == 1, customer_ref
