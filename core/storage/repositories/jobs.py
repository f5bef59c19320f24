"""The durable job queue's storage: enqueue idempotently, claim with a lease.

States: ``pending`` (due at ``run_after``), ``running`` (leased), ``waiting`` (for a
decision: woken by it, else looked at again at ``run_after`` without counting an
attempt), ``done``, ``failed`` (gave up after ``max_attempts``).

On PostgreSQL claims use ``FOR UPDATE SKIP LOCKED``, so processes sharing one
database never claim the same job; on SQLite write transactions are serialised.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.domain.job import Job
from core.storage.tables import JobRow

__all__ = ["JobRepository"]


def _job(row: JobRow) -> Job:
    return Job(
        row.id,
        row.kind,
        row.key,
        dict(row.payload),
        row.attempts,
        row.max_attempts,
        row.run_after,
        row.state,
    )


class JobRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def enqueue(
        self,
        kind: str,
        key: str,
        payload: dict[str, Any],
        *,
        run_after: datetime,
        now: datetime,
        max_attempts: int = 8,
    ) -> bool:
        """Add a job unless one with this key exists; True when added."""
        existing = await self._session.scalar(select(JobRow.id).where(JobRow.key == key))
        if existing is not None:
            return False
        self._session.add(
            JobRow(
                kind=kind,
                key=key,
                payload=payload,
                state="pending",
                run_after=run_after,
                attempts=0,
                max_attempts=max_attempts,
                created_at=now,
            )
        )
        await self._session.flush()
        return True

    async def enqueue_many(
        self,
        kind: str,
        jobs: dict[str, dict[str, Any]],
        *,
        run_after: datetime,
        now: datetime,
        max_attempts: int = 8,
    ) -> int:
        """Add a job per key (key -> payload) unless one exists, as one statement with no
        objects kept in the session (a page of a fan-out); how many were added."""
        existing = set(
            await self._session.scalars(select(JobRow.key).where(JobRow.key.in_(list(jobs))))
        )
        rows = [
            {
                "kind": kind,
                "key": key,
                "payload": payload,
                "state": "pending",
                "run_after": run_after,
                "attempts": 0,
                "max_attempts": max_attempts,
                "created_at": now,
            }
            for key, payload in jobs.items()
            if key not in existing
        ]
        if rows:
            await self._session.execute(insert(JobRow), rows)
        return len(rows)

    async def claim(
        self, worker: str, kinds: list[str], *, now: datetime, lease: timedelta, limit: int
    ) -> list[Job]:
        due = or_(
            and_(JobRow.state.in_(("pending", "waiting")), JobRow.run_after <= now),
            and_(JobRow.state == "running", JobRow.lease_until < now),  # a worker died
        )
        rows = list(
            await self._session.scalars(
                select(JobRow)
                .where(JobRow.kind.in_(kinds), due)
                .order_by(JobRow.run_after, JobRow.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        )
        for row in rows:
            row.state, row.leased_by = "running", worker
            row.lease_until = now + lease
            row.attempts += 1
        await self._session.flush()
        return [_job(r) for r in rows]

    async def finish(self, job_id: int, worker: str, *, state: str, now: datetime) -> bool:
        """Close a job this worker still holds; False if its lease passed to another."""
        result = await self._session.execute(
            update(JobRow)
            .where(JobRow.id == job_id, JobRow.leased_by == worker, JobRow.state == "running")
            .values(state=state, finished_at=now, lease_until=None)
        )
        return bool(getattr(result, "rowcount", 0))

    async def renew(self, worker: str, job_ids: list[int], *, until: datetime) -> int:
        """Extend the leases this worker still holds; how many it still held."""
        result = await self._session.execute(
            update(JobRow)
            .where(JobRow.id.in_(job_ids), JobRow.leased_by == worker, JobRow.state == "running")
            .values(lease_until=until)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def retry(
        self, job_id: int, worker: str, *, run_after: datetime, error: str, exhausted: bool
    ) -> None:
        await self._session.execute(
            update(JobRow)
            .where(JobRow.id == job_id, JobRow.leased_by == worker)
            .values(
                state="failed" if exhausted else "pending",
                run_after=run_after,
                lease_until=None,
                last_error=error[:200],
            )
        )

    async def park(self, job_id: int, worker: str, *, until: datetime, note: str) -> None:
        """Waiting for a decision: the claim's attempt is given back."""
        await self._session.execute(
            update(JobRow)
            .where(JobRow.id == job_id, JobRow.leased_by == worker)
            .values(
                state="waiting",
                run_after=until,
                lease_until=None,
                attempts=JobRow.attempts - 1,
                last_error=note[:200],
            )
        )

    async def wake(self, keys: list[str], *, now: datetime) -> int:
        """The jobs behind these keys that wait for a decision are due now."""
        result = await self._session.execute(
            update(JobRow)
            .where(JobRow.key.in_(keys), JobRow.state == "waiting")
            .values(state="pending", run_after=now)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def live_keys(self, keys: list[str]) -> set[str]:
        """Those of ``keys`` whose job will still run (pending, running or waiting)."""
        if not keys:
            return set()
        found = await self._session.scalars(
            select(JobRow.key).where(
                JobRow.key.in_(keys), JobRow.state.in_(("pending", "running", "waiting"))
            )
        )
        return set(found)

    async def get(self, key: str) -> Job | None:
        row = await self._session.scalar(select(JobRow).where(JobRow.key == key))
        return None if row is None else _job(row)

    async def count(self, kind: str, state: str) -> int:
        rows = await self._session.scalars(
            select(JobRow.id).where(JobRow.kind == kind, JobRow.state == state)
        )
        return len(list(rows))

    async def held(self, job_id: int, worker: str) -> bool:
        """Does ``worker`` still hold this job's lease (so acting on it is safe)?"""
        found = await self._session.scalar(
            select(JobRow.id)
            .where(JobRow.id == job_id, JobRow.leased_by == worker, JobRow.state == "running")
            .with_for_update()
        )
        return found is not None
