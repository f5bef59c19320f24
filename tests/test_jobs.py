"""The worker's handler registry: other areas add job kinds; failures are retried."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

import pytest
from sqlalchemy import update

from bot.background.outreach import run_daily_retention
from bot.background.worker import JobContext, Worker
from bot.outbound import Outbound
from core.app import PrivacyCore
from core.domain.job import Job
from core.services import (
    SYSTEM,
    ClaimJobs,
    EnqueueJob,
    audit_tail,
    claim_jobs,
    complete_job,
    enqueue_job,
)
from core.services.jobs import RenewLeases, renew_leases
from core.services.retention import RETENTION
from core.storage.tables import JobRow
from tests.followup_support import commit_fails_once, freeze, jobs, run_steps
from tests.outbound_support import RecordingSender


async def _enqueue(core: PrivacyCore, kind: str, key: str) -> None:
    async with core.uow() as uow:
        await enqueue_job(EnqueueJob(kind, key, {"n": 1}), uow)
        await uow.commit()


async def _until(condition: object, timeout: float = 10.0) -> None:  # noqa: ASYNC109
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await condition():  # type: ignore[operator]
        assert loop.time() < deadline
        await asyncio.sleep(0.05)


async def test_a_registered_kind_runs_once_and_is_closed_with_its_audit(
    core: PrivacyCore,
) -> None:
    freeze(core)
    ran: list[int] = []

    async def export(job: Job, ctx: JobContext) -> None:
        ran.append(job.id)
        await ctx.uow.record(SYSTEM, "export.built", subject_ref=None)
        await complete_job(job, ctx.worker, ctx.uow)

    await _enqueue(core, "export", "export:1")
    w = Worker(core, Outbound(RecordingSender()), handlers={"export": export}, poll=0.05)
    w.start()
    await _until(lambda: _states(core, "export", {"done"}))
    await w.stop()
    assert len(ran) == 1


async def test_a_failing_handler_puts_the_job_back_with_its_error(core: PrivacyCore) -> None:
    freeze(core)

    async def broken(job: Job, ctx: JobContext) -> None:
        raise RuntimeError("boom")

    await _enqueue(core, "digest", "digest:1")
    w = Worker(core, Outbound(RecordingSender()), handlers={"digest": broken}, poll=0.05)
    w.start()
    await _until(lambda: _attempted(core, "digest"))
    await w.stop()
    [job] = await jobs(core, "digest")
    assert job.state == "pending"
    assert job.last_error == "RuntimeError"
    assert job.run_after > core.clock.now()  # backoff


async def test_kinds_without_a_handler_are_left_alone(core: PrivacyCore) -> None:
    freeze(core)
    await _enqueue(core, "erasure", "erasure:1")
    w = Worker(core, Outbound(RecordingSender()), handlers={}, poll=0.05)
    w.start()
    await asyncio.sleep(0.3)
    await w.stop()
    [job] = await jobs(core, "erasure")
    assert job.state == "pending"
    assert job.attempts == 0


async def test_a_renewed_lease_keeps_other_workers_off_a_long_job(core: PrivacyCore) -> None:
    clock = freeze(core)
    await _enqueue(core, "retention", "retention:1")
    lease = timedelta(minutes=1)
    async with core.uow() as uow:
        [job] = await claim_jobs(ClaimJobs("a:1:x", ("retention",), lease=lease), uow)
        await uow.commit()
    clock.advance(timedelta(seconds=50))
    async with core.uow() as uow:
        assert await renew_leases(RenewLeases("a:1:x", (job.id,), lease), uow) == 1
        await uow.commit()
    clock.advance(timedelta(seconds=50))  # past the first lease, inside the renewed one
    async with core.uow() as uow:
        assert await claim_jobs(ClaimJobs("b:2:y", ("retention",), lease=lease), uow) == []
    clock.advance(timedelta(seconds=11))  # no renewal since: worker a died
    async with core.uow() as uow:
        [taken] = await claim_jobs(ClaimJobs("b:2:y", ("retention",), lease=lease), uow)
    assert taken.id == job.id


async def test_a_running_worker_renews_the_leases_of_its_jobs(core: PrivacyCore) -> None:
    clock = freeze(core)
    started, release = asyncio.Event(), asyncio.Event()

    async def sweep(job: Job, ctx: JobContext) -> None:
        started.set()
        await release.wait()
        await complete_job(job, ctx.worker, ctx.uow)

    await _enqueue(core, "retention", "retention:1")
    lease = timedelta(seconds=0.3)
    w = Worker(
        core, Outbound(RecordingSender()), handlers={"retention": sweep}, poll=0.05, lease=lease
    )
    w.start()
    await asyncio.wait_for(started.wait(), 10)
    clock.advance(timedelta(seconds=0.1))
    renewed_until = clock.now() + lease
    await _until(lambda: _lease_until(core, "retention", renewed_until))
    release.set()
    await _until(lambda: _states(core, "retention", {"done"}))
    await w.stop()


async def test_a_worker_whose_job_was_taken_over_says_so(
    core: PrivacyCore, caplog: pytest.LogCaptureFixture
) -> None:
    freeze(core)
    started, release = asyncio.Event(), asyncio.Event()

    async def sweep(job: Job, ctx: JobContext) -> None:
        started.set()
        await release.wait()

    await _enqueue(core, "retention", "retention:1")
    lease = timedelta(seconds=0.3)
    w = Worker(
        core, Outbound(RecordingSender()), handlers={"retention": sweep}, poll=0.05, lease=lease
    )
    with caplog.at_level(logging.WARNING, logger="bot.background.worker"):
        w.start()
        await asyncio.wait_for(started.wait(), 10)
        async with core.uow() as uow:  # as if another worker claimed it after a stall
            await uow.session.execute(update(JobRow).values(leased_by="other:1:x"))
            await uow.commit()
        await _until(lambda: _logged(caplog, "leases lost: 1 of 1 running jobs"))
        release.set()
        await w.stop()


async def _logged(caplog: pytest.LogCaptureFixture, text: str) -> bool:
    return text in caplog.text


async def _lease_until(core: PrivacyCore, kind: str, until: datetime) -> bool:
    [job] = await jobs(core, kind)
    return job.lease_until is not None and job.lease_until >= until


async def _states(core: PrivacyCore, kind: str, wanted: set[str]) -> bool:
    rows = await jobs(core, kind)
    return bool(rows) and all(j.state in wanted for j in rows)


async def _attempted(core: PrivacyCore, kind: str) -> bool:
    return any(j.last_error for j in await jobs(core, kind))


async def _built_and_closed(job: Job, ctx: JobContext) -> None:
    await ctx.uow.record(SYSTEM, "export.built", subject_ref=None)
    await complete_job(job, ctx.worker, ctx.uow)


async def _audited(core: PrivacyCore, action: str) -> int:
    async with core.uow() as uow:
        return [e.action for e in await audit_tail(100, uow)].count(action)


async def test_a_job_step_is_one_transaction_with_its_completion(core: PrivacyCore) -> None:
    freeze(core)
    await _enqueue(core, "export", "export:1")
    [step] = await run_steps(core, "export", _built_and_closed)
    assert step.writing == 1
    assert [j.state for j in await jobs(core, "export")] == ["done"]


async def test_a_step_that_died_before_its_commit_is_run_again_and_counted_once(
    core: PrivacyCore,
) -> None:
    freeze(core)
    await _enqueue(core, "export", "export:1")
    await run_steps(core, "export", commit_fails_once(_built_and_closed))
    assert await _audited(core, "export.built") == 0  # the effect went with the completion
    [job] = await jobs(core, "export")
    assert (job.state, job.last_error) == ("pending", "ConnectionError")
    await run_steps(core, "export", _built_and_closed)
    assert await _audited(core, "export.built") == 1
    assert [j.state for j in await jobs(core, "export")] == ["done"]


async def test_a_failing_handler_leaves_none_of_its_work_behind(core: PrivacyCore) -> None:
    freeze(core)

    async def half_done(job: Job, ctx: JobContext) -> None:
        await ctx.uow.record(SYSTEM, "export.built", subject_ref=None)
        raise RuntimeError("boom")

    await _enqueue(core, "export", "export:1")
    await run_steps(core, "export", half_done)
    assert await _audited(core, "export.built") == 0
    [job] = await jobs(core, "export")
    assert (job.state, job.last_error) == ("pending", "RuntimeError")


async def test_the_daily_sweep_whose_step_died_before_its_commit_runs_again_and_closes(
    core: PrivacyCore,
) -> None:
    freeze(core)
    await _enqueue(core, RETENTION, "retention:1")
    await run_steps(core, RETENTION, commit_fails_once(run_daily_retention))
    await run_steps(core, RETENTION, run_daily_retention)
    # A sweep commits its own batches; run again it finds nothing more to remove.
    assert [j.state for j in await jobs(core, RETENTION)] == ["done"]
    assert await _audited(core, "retention.completed") == 2
    assert await _audited(core, "retention.removed") == 0
