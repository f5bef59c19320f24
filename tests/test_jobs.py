"""The worker's handler registry: other areas add job kinds; failures are retried."""

from __future__ import annotations

import asyncio

from bot.outbound import Outbound
from bot.worker import JobContext, Worker
from core.app import PrivacyCore
from core.services import SYSTEM, EnqueueJob, complete_job, enqueue_job
from core.storage.repositories import Job
from tests.followup_support import freeze, jobs


class _NoSender:
    async def send_out(self, chat_id: int, reply: object) -> int:
        raise AssertionError("no message expected")


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
        async with ctx.core.uow() as uow:
            await uow.record(SYSTEM, "export.built", subject_ref=None)
            await complete_job(job, ctx.worker, uow)
            await uow.commit()

    await _enqueue(core, "export", "export:1")
    w = Worker(core, Outbound(_NoSender()), handlers={"export": export}, poll=0.05)
    w.start()
    await _until(lambda: _states(core, "export", {"done"}))
    await w.stop()
    assert len(ran) == 1


async def test_a_failing_handler_puts_the_job_back_with_its_error(core: PrivacyCore) -> None:
    freeze(core)

    async def broken(job: Job, ctx: JobContext) -> None:
        raise RuntimeError("boom")

    await _enqueue(core, "digest", "digest:1")
    w = Worker(core, Outbound(_NoSender()), handlers={"digest": broken}, poll=0.05)
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
    w = Worker(core, Outbound(_NoSender()), handlers={}, poll=0.05)
    w.start()
    await asyncio.sleep(0.3)
    await w.stop()
    [job] = await jobs(core, "erasure")
    assert job.state == "pending"
    assert job.attempts == 0


async def _states(core: PrivacyCore, kind: str, wanted: set[str]) -> bool:
    rows = await jobs(core, kind)
    return bool(rows) and all(j.state in wanted for j in rows)


async def _attempted(core: PrivacyCore, kind: str) -> bool:
    return any(j.last_error for j in await jobs(core, kind))
