"""The audit log's storage: append under the head row's lock, read in order."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.audit import AuditEntry, entry_hash
from core.storage.tables import AuditEntryRow, AuditHeadRow

__all__ = ["Actor", "AuditRepository"]


@dataclass(frozen=True)
class Actor:
    """Who did it, pseudonymously: a customer ref, a staff pseudonym, or the system."""

    kind: str
    ref: str


class AuditRepository:
    def __init__(self, session: AsyncSession, chain_key: bytes) -> None:
        self._session = session
        self.chain_key = chain_key
        self._held: tuple[object, AuditHeadRow] | None = None

    async def _locked_head(self) -> AuditHeadRow:
        """The chain's tip, locked once per transaction (later appends reuse it)."""
        transaction = self._session.sync_session.get_transaction()
        if transaction is not None and self._held is not None and self._held[0] is transaction:
            return self._held[1]
        head = await self._session.get(
            AuditHeadRow, 1, with_for_update=True, populate_existing=True
        )
        assert head is not None, "audit_head is created by the first migration"
        # Taken after the get, which begins the transaction if none was open.
        self._held = (self._session.sync_session.get_transaction(), head)
        return head

    async def append(
        self,
        *,
        at: datetime,
        actor: Actor,
        action: str,
        subject_ref: str | None,
        outcome: str,
        purpose: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> AuditEntry:
        head = await self._locked_head()
        entry = AuditEntry(
            seq=head.seq + 1,
            at=at,
            actor_kind=actor.kind,
            actor_ref=actor.ref,
            action=action,
            subject_ref=subject_ref,
            purpose=purpose,
            outcome=outcome,
            details=details or {},
            prev_hash=head.hash,
        )
        entry = AuditEntry(**{**entry.__dict__, "hash": entry_hash(entry, self.chain_key)})
        # No flush here: entries and the tip go out together at the next flush or
        # commit (many appends in one transaction become one batched insert).
        self._session.add(_to_row(entry))
        head.seq, head.hash = entry.seq, entry.hash
        return entry

    async def stream(self, batch: int = 5000) -> AsyncIterator[AuditEntry]:
        """Every entry in sequence order, a batch at a time (memory stays flat).

        Plain column tuples, not ORM objects: verifying a million entries is mostly
        object construction otherwise.
        """
        table = AuditEntryRow.__table__
        last = 0
        while True:
            rows = (
                await self._session.execute(
                    select(*table.c).where(table.c.seq > last).order_by(table.c.seq).limit(batch)
                )
            ).all()
            for row in rows:
                yield _from_tuple(row)
            if len(rows) < batch:
                return
            last = rows[-1].seq

    async def tail(self, n: int) -> list[AuditEntry]:
        rows = await self._session.scalars(
            select(AuditEntryRow).order_by(AuditEntryRow.seq.desc()).limit(n)
        )
        return [_from_row(r) for r in reversed(list(rows))]

    async def about(self, subject_ref: str) -> list[AuditEntry]:
        rows = await self._session.scalars(
            select(AuditEntryRow)
            .where(AuditEntryRow.subject_ref == subject_ref)
            .order_by(AuditEntryRow.seq)
        )
        return [_from_row(r) for r in rows]

    async def head(self) -> tuple[int, str]:
        row = await self._session.get(AuditHeadRow, 1)
        assert row is not None, "audit_head is created by the first migration"
        return row.seq, row.hash

    async def seq_of_hash(self, hash_: str) -> int | None:
        return await self._session.scalar(
            select(AuditEntryRow.seq).where(AuditEntryRow.hash == hash_).limit(1)
        )

    async def count(self) -> int:
        return int(await self._session.scalar(select(func.count()).select_from(AuditEntryRow)) or 0)


def _to_row(e: AuditEntry) -> AuditEntryRow:
    return AuditEntryRow(
        seq=e.seq,
        at=e.at,
        actor_kind=e.actor_kind,
        actor_ref=e.actor_ref,
        action=e.action,
        subject_ref=e.subject_ref,
        purpose=e.purpose,
        outcome=e.outcome,
        details=json.dumps(e.details, sort_keys=True, ensure_ascii=False),
        prev_hash=e.prev_hash,
        hash=e.hash,
    )


def _from_row(r: AuditEntryRow) -> AuditEntry:
    return AuditEntry(
        seq=r.seq,
        at=r.at,
        actor_kind=r.actor_kind,
        actor_ref=r.actor_ref,
        action=r.action,
        subject_ref=r.subject_ref,
        purpose=r.purpose,
        outcome=r.outcome,
        details=json.loads(r.details),
        prev_hash=r.prev_hash,
        hash=r.hash,
    )


def _from_tuple(r: Any) -> AuditEntry:
    return AuditEntry(
        r.seq,
        r.at,
        r.actor_kind,
        r.actor_ref,
        r.action,
        r.subject_ref,
        r.purpose,
        r.outcome,
        json.loads(r.details),
        r.prev_hash,
        r.hash,
    )
