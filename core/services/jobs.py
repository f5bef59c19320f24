"""Use cases of the durable job queue (follow-ups, exports, erasures, notices).

Enqueue inside the caller's transaction, so a job exists exactly when the change
that needs it was committed. Workers claim with a lease: a worker that dies
mid-job loses the lease and another takes the job over.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from core.domain.job import Job, request_job_key
from core.storage import UnitOfWork

__all__ = [
    "ClaimJobs",
    "EnqueueJob",
    "RenewLeases",
    "backoff",
    "claim_jobs",
    "complete_job",
    "enqueue_job",
    "enqueue_request_job",
    "park_job",
    "renew_leases",
    "retry_job",
]

# A job waiting for a decision is woken by it; this is only the safety net.
PARKED_LOOK = timedelta(days=1)


@dataclass(frozen=True)
class EnqueueJob:
    kind: str
    key: str  # idempotency: one job per key, ever
    payload: dict[str, Any] = field(default_factory=dict)
    run_after: datetime | None = None
    max_attempts: int = 8


async def enqueue_job(cmd: EnqueueJob, uow: UnitOfWork) -> bool:
    """Add the job to the current transaction."""
    now = uow.now()
    return await uow.jobs.enqueue(
        cmd.kind,
        cmd.key,
        cmd.payload,
        run_after=cmd.run_after or now,
        now=now,
        max_attempts=cmd.max_attempts,
    )


@dataclass(frozen=True)
class ClaimJobs:
    worker: str
    kinds: tuple[str, ...]
    limit: int = 10
    lease: timedelta = timedelta(minutes=2)


async def enqueue_request_job(kind: str, request_ref: str, uow: UnitOfWork) -> bool:
    """The job that carries out a request: it waits (parked, uncounted) for the staff
    decision where one is needed, so its attempts count only real failures."""
    key = request_job_key(kind, request_ref)
    return await enqueue_job(EnqueueJob(kind, key, {"request": request_ref}, max_attempts=50), uow)


async def claim_jobs(cmd: ClaimJobs, uow: UnitOfWork) -> list[Job]:
    jobs = await uow.jobs.claim(
        cmd.worker, list(cmd.kinds), now=uow.now(), lease=cmd.lease, limit=cmd.limit
    )
    return jobs


@dataclass(frozen=True)
class RenewLeases:
    worker: str
    job_ids: tuple[int, ...]
    lease: timedelta


async def renew_leases(cmd: RenewLeases, uow: UnitOfWork) -> int:
    """Keep the jobs a live worker is still running; how many it still held.

    Leases can then be short: a worker that died loses its jobs to another within
    one lease, however long a job (a retention sweep, say) takes while alive.
    """
    if not cmd.job_ids:
        return 0
    held = await uow.jobs.renew(cmd.worker, list(cmd.job_ids), until=uow.now() + cmd.lease)
    return held


async def complete_job(job: Job, worker: str, uow: UnitOfWork, *, state: str = "done") -> bool:
    """Mark done in the caller's transaction; False when the lease was lost meanwhile."""
    return await uow.jobs.finish(job.id, worker, state=state, now=uow.now())


async def park_job(job: Job, worker: str, note: str, uow: UnitOfWork) -> None:
    """Waiting for a decision is a state, not a retry: no attempt is counted, and the
    decision wakes the job (``uow.jobs.wake``) in its own transaction."""
    await uow.jobs.park(job.id, worker, until=uow.now() + PARKED_LOOK, note=note)


def backoff(attempts: int, base: float = 5.0, cap: float = 3600.0) -> timedelta:
    return timedelta(seconds=min(cap, base * 2 ** max(0, attempts - 1)))


async def retry_job(
    job: Job, worker: str, error: str, uow: UnitOfWork, *, delay: timedelta | None = None
) -> bool:
    """Put the job back for later (or give up after max_attempts); True if it will run again."""
    exhausted = job.attempts >= job.max_attempts
    run_after = uow.now() + (delay if delay is not None else backoff(job.attempts))
    await uow.jobs.retry(job.id, worker, run_after=run_after, error=error, exhausted=exhausted)
    return not exhausted
