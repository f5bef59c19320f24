"""Defects 1-3 of the adversarial probe (issue 19): a request waiting for a decision
waits without dying, a request no job will carry out shows up to staff, and an email
or phone held by another customer is neither disclosed nor left stuck."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from bot.background.rights_jobs import RightsJobs
from bot.background.staff_tasks import digest_text
from bot.background.worker import Worker
from bot.outbound import Outbound
from bot.render.i18n import Translator
from core.app import PrivacyCore
from core.clock import FixedClock
from core.domain.requests import RequestKind, RequestState
from core.errors import RateLimited
from core.services import OpenRequest, open_request
from core.services.desk.queue import (
    DecideRequest,
    ViewQueue,
    approve_request,
    daily_digest,
    stuck_requests,
    view_queue,
)
from core.services.rights.erasure import RequestErasure, request_erasure
from core.services.rights.rectification import CorrectField, correct_field
from core.storage.tables import JobRow
from tests.chat_drivers import ConsoleDriver
from tests.outbound_support import RecordingSender
from tests.rights_helpers import telegram_customer
from tests.test_staff_desk import ADMIN, AGENT, audit_entries, notice, staff

ALICE, BOB = 7101, 7102
en = Translator("en")


@pytest.fixture
def clock(core: PrivacyCore) -> FixedClock:
    core.clock = FixedClock(datetime(2026, 12, 1, 2, 0, tzinfo=UTC))
    return core.clock


async def erasure_asked(core: PrivacyCore) -> str:
    ref = await telegram_customer(core, ALICE, name="Alice Wong")
    async with core.uow() as uow:
        request, _ = await request_erasure(RequestErasure(ref), uow)
        await uow.commit()
    return request.ref


async def job_of(core: PrivacyCore, key: str) -> tuple[str, int]:
    async with core.uow() as uow:
        job = await uow.jobs.get(key)
    assert job is not None
    return job.state, job.attempts


async def run_jobs(core: PrivacyCore) -> None:
    await RightsJobs(core, Outbound(RecordingSender()), None).run_due()


async def approve_twice(core: PrivacyCore, ref: str) -> None:
    for by in (ADMIN, AGENT):
        async with core.uow() as uow:
            await approve_request(DecideRequest(by, ref), uow)
            await uow.commit()


# --- 1. waiting for a decision is a state, not a retry -------------------------------


async def test_a_job_waiting_for_approval_counts_no_attempts_however_long_it_waits(
    core: PrivacyCore, clock: FixedClock
) -> None:
    ref = await erasure_asked(core)
    for _ in range(60):  # two months of daily safety-net looks
        await run_jobs(core)
        clock.advance(timedelta(days=1))
    assert await job_of(core, f"erasure:{ref}") == ("waiting", 0)


async def test_an_approval_after_two_months_still_carries_the_erasure_out(
    core: PrivacyCore, clock: FixedClock
) -> None:
    await staff(core, ADMIN, AGENT)
    ref = await erasure_asked(core)
    await run_jobs(core)
    clock.advance(timedelta(days=60))
    await approve_twice(core, ref)
    await run_jobs(core)
    async with core.uow() as uow:
        assert (await uow.requests.get(ref)).state is RequestState.COMPLETED
    assert (await job_of(core, f"erasure:{ref}"))[0] == "done"


async def test_the_decision_makes_the_waiting_job_due_at_once(
    core: PrivacyCore, clock: FixedClock
) -> None:
    await staff(core, ADMIN, AGENT)
    ref = await erasure_asked(core)
    await run_jobs(core)
    await approve_twice(core, ref)
    async with core.uow() as uow:
        job = await uow.jobs.get(f"erasure:{ref}")
    assert job is not None
    assert (job.state, job.run_after) == ("pending", clock.now())


# --- 1. a request no job will carry out shows up to staff ----------------------------


@pytest.fixture
async def stuck(core: PrivacyCore) -> str:
    """An approved erasure whose job gave up: the ref of a request nothing will carry out."""
    await staff(core, ADMIN, AGENT)
    ref = await erasure_asked(core)
    await approve_twice(core, ref)
    async with core.uow() as uow:
        await uow.session.execute(
            update(JobRow).where(JobRow.key == f"erasure:{ref}").values(state="failed")
        )
        await uow.commit()
    return ref


async def test_a_request_whose_job_gave_up_is_marked_stuck_in_the_queue(
    core: PrivacyCore,
    stuck: str,
) -> None:
    ref = stuck
    async with core.uow() as uow:
        page = await view_queue(ViewQueue(ADMIN), uow)
    assert [r.ref for r in page.stuck] == [ref]
    assert [i.stuck for i in page.items if i.request.ref == ref] == [True]


async def test_the_daily_digest_lists_a_stuck_request_that_is_not_due_soon(
    core: PrivacyCore,
    stuck: str,
) -> None:
    ref = stuck
    async with core.uow() as uow:
        digest = await daily_digest(uow)
    assert ref in digest_text(digest, en)
    assert en("staff.queue.stuck_mark") in digest_text(digest, en)


async def test_metrics_count_stuck_requests_by_kind(core: PrivacyCore, stuck: str) -> None:
    worker = Worker(core, Outbound(RecordingSender()))
    await worker._housekeeping()
    assert 'privacy_requests_stuck{kind="erasure"} 1' in worker.metrics.render()


async def test_a_request_in_progress_that_no_job_carries_out_is_stuck(core: PrivacyCore) -> None:
    ref = await telegram_customer(core, ALICE)
    async with core.uow() as uow:
        request = await open_request(OpenRequest(ref, RequestKind.ACCESS), uow)
        assert request.state is RequestState.IN_PROGRESS
        assert [r.ref for r in await stuck_requests(uow)] == [request.ref]


async def test_no_open_request_is_left_without_a_live_job_behind_it(core: PrivacyCore) -> None:
    await staff(core, ADMIN, AGENT)
    erasure = await erasure_asked(core)
    bob = await telegram_customer(core, BOB)
    async with core.uow() as uow:
        correction, _ = await correct_field(CorrectField(bob, "email", "bob@example.com"), uow)
        await uow.commit()
    for _ in range(2):
        await run_jobs(core)
        async with core.uow() as uow:
            assert await stuck_requests(uow) == []
    await approve_twice(core, erasure)
    async with core.uow() as uow:
        await approve_request(DecideRequest(ADMIN, correction.ref), uow)
        assert await stuck_requests(uow) == []
        await uow.commit()
    await run_jobs(core)
    async with core.uow() as uow:
        assert await uow.requests.open_requests() == []


# --- 2. an address held by another customer is not disclosed -------------------------


async def ask_email(core: PrivacyCore, ref: str, email: str) -> RequestState:
    async with core.uow() as uow:
        request, _ = await correct_field(CorrectField(ref, "email", email), uow)
        await uow.commit()
    return request.state


async def test_another_customers_email_is_taken_like_a_new_one(core: PrivacyCore) -> None:
    await telegram_customer(core, BOB, email="bob@example.com")
    alice = await telegram_customer(core, ALICE)
    taken = await ask_email(core, alice, "BOB@example.com")
    new = await ask_email(core, alice, "nobody@example.com")
    assert taken == new == RequestState.RECEIVED


async def test_identity_changes_are_limited_per_day_and_the_refusal_is_audited(
    core: PrivacyCore,
) -> None:
    alice = await telegram_customer(core, ALICE)
    for n in range(3):
        await ask_email(core, alice, f"guess{n}@example.com")
    with pytest.raises(RateLimited):
        await ask_email(core, alice, "guess3@example.com")
    refused = [e for e in await audit_entries(core) if e.outcome == "denied"]
    assert [e.details.get("reason") for e in refused][-1:] == ["identity_rate_limited"]


async def test_the_identity_limit_counts_a_day_back(core: PrivacyCore, clock: FixedClock) -> None:
    alice = await telegram_customer(core, ALICE)
    for n in range(3):
        await ask_email(core, alice, f"guess{n}@example.com")
    clock.advance(timedelta(days=1, seconds=1))
    assert await ask_email(core, alice, "guess3@example.com") is RequestState.RECEIVED


# --- 3. two pending corrections to one email -----------------------------------------


async def test_the_second_of_two_corrections_to_one_email_is_closed_and_its_customer_told(
    core: PrivacyCore,
) -> None:
    await staff(core, ADMIN)
    alice = await telegram_customer(core, ALICE)
    bob = await telegram_customer(core, BOB)
    refs = []
    for who in (alice, bob):
        async with core.uow() as uow:
            request, _ = await correct_field(CorrectField(who, "email", "carol@example.com"), uow)
            await uow.commit()
        refs.append(request.ref)
    for ref in refs:
        async with core.uow() as uow:
            await approve_request(DecideRequest(ADMIN, ref), uow)
            await uow.commit()
    await run_jobs(core)
    async with core.uow() as uow:
        first, second = [await uow.requests.get(r) for r in refs]
        failed = await uow.jobs.count("rectify", "failed")
    assert (first.state, second.state) == (RequestState.COMPLETED, RequestState.REJECTED)
    assert failed == 0
    told = await notice(core, f"not_made:{refs[1]}")
    assert told is not None
    assert told["message"] == "rights.correct.not_made"
    assert "carol" not in str(told)


async def test_staff_read_the_stuck_request_at_the_top_of_queue(
    core: PrivacyCore, stuck: str
) -> None:
    ref = stuck
    chat = ConsoleDriver(core, ADMIN)
    await chat.send("/queue")
    assert chat.messages[-1].text.splitlines()[2] == en("staff.queue.stuck", count=1, refs=ref)
