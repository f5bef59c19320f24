"""The job worker: claims due jobs from the database queue and runs their handlers.

Started by ``privacy-bot run``; any number of processes may run one against the
same database (claims use leases, and ``FOR UPDATE SKIP LOCKED`` on PostgreSQL).

A handler is registered per job kind::

    async def handle_export(job: Job, ctx: JobContext) -> None: ...
    register_handler("export", handle_export)

Contract: one job step is one unit of work, ``ctx.uow``, opened by the worker.
The handler does its effect and closes its job (``complete_job``, or
``retry_job`` for "not yet") in it, and never commits: the worker commits once
after the handler returns, so the effect and the completion land together. If
the handler raises, that work is rolled back and the worker puts the job back
with backoff (``retry_job``) in a fresh transaction. The commits a handler
makes itself: ending what it only read before a send waits for its permit (so
no transaction waits with it), and an at-most-once "sending" marker (follow-ups,
exports) when the permit is granted, right before the request leaves; the same
``ctx.uow`` carries on afterwards. ``ctx.after_commit`` runs something
once the step's work is committed (folding the log after an erasure).

A job whose lease expired (the worker died) is claimed again by another worker.
A live worker renews the leases of the jobs it runs every third of a lease, so
leases are short (a dead worker's jobs move on within a minute) and a long job
is never taken over.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta

from bot.http.metrics import Metrics
from bot.outbound import Outbound
from core.app import PrivacyCore
from core.domain.job import Job
from core.services.desk.queue import stuck_requests
from core.services.jobs import ClaimJobs, RenewLeases, claim_jobs, renew_leases, retry_job
from core.services.outreach.purchases import purge_signatures
from core.services.outreach.sending import purge_send_chats
from core.storage import UnitOfWork

__all__ = [
    "HANDLERS",
    "AfterCommit",
    "JobContext",
    "JobHandler",
    "Worker",
    "register_handler",
    "run_step",
    "worker_id",
]

log = logging.getLogger("bot.background.worker")


AfterCommit = Callable[[], Awaitable[None]]


@dataclass
class JobContext:
    """What a handler gets for one step of one job; ``uow`` is the step's transaction."""

    core: PrivacyCore
    worker: str
    outbound: Outbound
    metrics: Metrics
    uow: UnitOfWork
    committed: list[AfterCommit] = field(default_factory=list)
    # The other messaging apps' paths, by channel (``outbound`` is Telegram's, or the
    # only app's): unprompted messages go where core.domain.reach says.
    channels: dict[str, Outbound] = field(default_factory=dict)

    def via(self, channel: str) -> Outbound:
        return self.channels.get(channel, self.outbound)

    def after_commit(self, action: AfterCommit) -> None:
        """Run ``action`` once the step's work is committed (never if it is rolled back)."""
        self.committed.append(action)


JobHandler = Callable[[Job, JobContext], Awaitable[None]]
HANDLERS: dict[str, JobHandler] = {}


async def run_step(
    core: PrivacyCore, job: Job, make: Callable[[UnitOfWork], JobContext], handler: JobHandler
) -> None:
    """One step of ``job``: the handler's work committed once, or the job put back.

    Raises what the handler raised, after the job was put back."""
    async with core.uow() as uow:
        ctx = make(uow)
        try:
            await handler(job, ctx)
            await uow.commit()
        except Exception as error:
            await uow.rollback()  # none of the failed step's work is kept
            await retry_job(job, ctx.worker, type(error).__name__, uow)
            await uow.commit()
            raise
        for action in ctx.committed:
            try:
                await action()
            except Exception as error:  # the step is done; this was a best-effort extra
                log.warning("after-commit of job %s failed: %s", job.id, type(error).__name__)


def register_handler(kind: str, handler: JobHandler) -> None:
    """Make every worker started afterwards run ``handler`` for jobs of ``kind``."""
    HANDLERS[kind] = handler


def worker_id() -> str:
    """hostname:pid:random, unique across processes and restarts (leases name it)."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(4)}"


@dataclass
class Worker:
    core: PrivacyCore
    outbound: Outbound
    handlers: dict[str, JobHandler] = field(default_factory=lambda: dict(HANDLERS))
    ident: str = field(default_factory=worker_id)
    poll: float = 0.5
    concurrency: int = 40  # jobs in flight; the outbound budget paces the sends
    lease: timedelta = timedelta(minutes=1)  # renewed while the job runs
    housekeeping_every: float = 300.0
    metrics: Metrics = field(default_factory=Metrics)
    channels: dict[str, Outbound] = field(default_factory=dict)  # see JobContext.via
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _stopping: asyncio.Event = field(default_factory=asyncio.Event)
    _running: dict[asyncio.Task[None], int] = field(default_factory=dict)  # task -> job id
    _task: asyncio.Task[None] | None = None
    _renewer: asyncio.Task[None] | None = None
    _stuck: Counter[str] = field(default_factory=Counter)  # kind -> requests, at housekeeping

    def __post_init__(self) -> None:
        self.metrics.watch(
            "privacy_requests_stuck",
            "Requests being carried out that no job will carry out (see /queue)",
            lambda: {(("kind", k),): float(n) for k, n in self._stuck.items()},
        )

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name=f"worker {self.ident}")
        # Its own task: a claim waiting for the database must not delay renewals, and
        # jobs still draining at stop keep their leases.
        self._renewer = asyncio.create_task(self._keep_leases(), name=f"leases {self.ident}")

    def wake(self) -> None:
        """A job was just enqueued in this process: look now rather than at the next poll."""
        self._wake.set()

    async def stop(self, drain: float = 30.0) -> None:
        """Claim nothing more; let jobs in flight finish (so none is left half-sent)."""
        self._stopping.set()
        self._wake.set()
        if self._task is not None:
            await self._task
        if self._running:
            _done, pending = await asyncio.wait(set(self._running), timeout=drain)
            for task in pending:
                task.cancel()  # its lease expires and another worker takes over
            await asyncio.gather(*pending, return_exceptions=True)
        if self._renewer is not None:
            self._renewer.cancel()
            await asyncio.gather(self._renewer, return_exceptions=True)

    async def run(self) -> None:
        log.info("worker %s started for %s", self.ident, ",".join(sorted(self.handlers)))
        next_housekeeping = time.monotonic()
        while not self._stopping.is_set():
            try:
                claimed = await self._claim()
                if time.monotonic() >= next_housekeeping:
                    next_housekeeping = time.monotonic() + self.housekeeping_every
                    await self._housekeeping()
            except Exception as error:
                # A database hiccup must not end the worker; the next poll tries again.
                log.error("worker poll failed: %s", type(error).__name__)
                claimed = 0
            if claimed == 0 or len(self._running) >= self.concurrency:
                await self._idle()

    async def _claim(self) -> int:
        free = self.concurrency - len(self._running)
        if free <= 0 or not self.handlers:
            return 0
        cmd = ClaimJobs(self.ident, tuple(sorted(self.handlers)), limit=free, lease=self.lease)
        async with self.core.uow() as uow:
            jobs = await claim_jobs(cmd, uow)
            await uow.commit()
        for job in jobs:
            task = asyncio.create_task(self._run_job(job))
            self._running[task] = job.id
            task.add_done_callback(self._finished)
        return len(jobs)

    async def _keep_leases(self) -> None:
        """Every third of a lease, renew the leases of the jobs running (until stop)."""
        while True:
            await asyncio.sleep(self.lease.total_seconds() / 3)
            if not self._running:
                continue
            try:
                await self._renew()
            except Exception as error:
                log.error("lease renewal failed: %s", type(error).__name__)

    async def _renew(self) -> None:
        ids = tuple(self._running.values())
        async with self.core.uow() as uow:
            held = await renew_leases(RenewLeases(self.ident, ids, self.lease), uow)
            await uow.commit()
        if held < len(ids):
            # Taken over after this worker stalled: another worker runs them too, and
            # this one's complete_job finds the lease gone. Follow-ups and exports
            # carry their own "sending" markers, so neither is sent twice.
            log.warning("leases lost: %d of %d running jobs", len(ids) - held, len(ids))

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.pop(task, None)
        self._wake.set()  # a slot is free

    async def _idle(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), self.poll)
        self._wake.clear()

    async def _run_job(self, job: Job) -> None:
        def context(uow: UnitOfWork) -> JobContext:
            return JobContext(
                self.core, self.ident, self.outbound, self.metrics, uow, channels=self.channels
            )

        try:
            await run_step(self.core, job, context, self.handlers[job.kind])
            self.metrics.inc("privacy_jobs_total", "Jobs run by kind", kind=job.kind)
        except Exception as error:
            # Already put back by run_step; a failure to do even that leaves the
            # lease to expire, and the job to another attempt.
            log.error("job %s (%s) failed: %s", job.id, job.kind, type(error).__name__)
            self.metrics.inc("privacy_job_errors_total", "Jobs that raised", kind=job.kind)

    async def _housekeeping(self) -> None:
        async with self.core.uow() as uow:
            await purge_signatures(uow)
            await purge_send_chats(uow.sending)
            stuck = await stuck_requests(uow)
            await uow.commit()
        self._stuck = Counter(r.kind.value for r in stuck)
        if stuck:
            log.warning("requests stuck: %s", ",".join(r.ref for r in stuck))
