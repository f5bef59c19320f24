"""The audit log's storage: append under the head row's lock, read in order.

Appends are cheap in bulk: each entry is hashed onto the chain at once (the head
row, locked once per transaction, carries the tip), but the entries themselves
wait in memory and go out as one Core ``INSERT`` executemany when the session
flushes (at commit, at any autoflush, or before this repository reads the log),
so a transaction that records a hundred entries builds no ORM objects for them.
The head's new tip is flushed by the ORM in that same flush: entries and head land
in the transaction they were appended in, and only if it commits; a rollback
(of the transaction, or of a savepoint they were appended in) drops them.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Table,
    Text,
    event,
    func,
    insert,
    literal_column,
    select,
    text,
    type_coerce,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import Session, SessionTransaction, UOWTransaction

from core.audit import CHAIN_VERSION, AuditEntry, StoredEntry, details_text, entry_hash
from core.domain.actor import Actor
from core.storage.tables import AuditEntryRow, AuditHeadRow

__all__ = ["AuditRepository", "Declined"]

# One run of entries laid out by the database for ChainVerifier.check_run: each
# entry's version 2 message, ``json_array(prev_hash, version, at, ..., details)``,
# joined by RECORD_SEP (char 30), and its hash and its sequence number counted from
# the run's start (``seq - after``: "1,2,3..." when none is missing, in the order the
# messages came), joined by ",". ``at`` is the text version 2 hashes: SQLite's stored
# text as is, PostgreSQL's timestamptz rendered the same way. This must match
# core.audit.chain.entry_message byte for byte; the tests verify logs both ways.
# (SQLite: the run is the next ``size`` entries, read in rowid order; the messages
# come back as a BLOB, so neither side decodes or encodes them.)
_SQLITE_RUN = """
SELECT count(*), max(seq), group_concat(seq - ?1, ','),
       CAST(group_concat(json_array(prev_hash, version, at, actor_kind, actor_ref, action,
                                    subject_ref, purpose, outcome, details), char(30)) AS BLOB),
       group_concat(hash, ',')
FROM audit_entries
WHERE seq > ?1 AND seq <= coalesce(
    (SELECT seq FROM audit_entries WHERE seq > ?1 ORDER BY seq LIMIT 1 OFFSET ?2 - 1),
    (SELECT max(seq) FROM audit_entries))
"""
_HAND_OVER_MAX = 0.005  # seconds to wait at most for aiosqlite's thread to take a read

_PG_AT_TEXT = "to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')"
_PG_RUN = """
SELECT count(*), max(seq), string_agg((seq - :after)::text, ',' ORDER BY seq),
       string_agg(message, chr(30) ORDER BY seq), string_agg(hash, ',' ORDER BY seq)
FROM (
    SELECT seq, hash,
           '[' || concat_ws(',', to_json(prev_hash), to_json(version),
               to_json(to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')),
               to_json(actor_kind), to_json(actor_ref), to_json(action),
               coalesce(to_json(subject_ref)::text, 'null'),
               coalesce(to_json(purpose)::text, 'null'), to_json(outcome), to_json(details)
           ) || ']' AS message
    FROM audit_entries WHERE seq > :after ORDER BY seq LIMIT :size
) AS run
"""


@dataclass(frozen=True)
class Declined:
    """Entries ``after`` < seq <= ``last`` that ``check_runs`` could not vouch for."""

    after: int
    last: int


@dataclass
class _Held:
    """The chain's head, locked for one transaction, and the entries appended in it
    that are not written yet (column values, in sequence order)."""

    transaction: SessionTransaction
    head: AuditHeadRow
    pending: list[dict[str, Any]] = field(default_factory=list)


def _entries_table() -> Table:
    table = AuditEntryRow.__table__
    assert isinstance(table, Table)
    return table


_ENTRIES = _entries_table()
_INSERT_ENTRIES = insert(_ENTRIES)


@dataclass(frozen=True)
class _Run:
    after: int  # the run holds the first ``size`` entries with seq > after
    size: int
    count: int
    last: int | None
    laid_out: tuple[str, bytes, str] | None  # offsets, messages, hashes (None if empty)


class AuditRepository:
    run_size = 2000  # entries per round trip when verifying (larger measured no faster)

    def __init__(self, session: AsyncSession, chain_key: bytes) -> None:
        self._session = session
        self.chain_key = chain_key
        self._held: _Held | None = None
        self._hooked = False

    async def _locked_head(self) -> _Held:
        """The chain's tip, locked once per transaction (later appends reuse it)."""
        sync = self._session.sync_session
        transaction = sync.get_transaction()
        held = self._held
        if transaction is not None and held is not None and held.transaction is transaction:
            return held
        head = await self._session.get(
            AuditHeadRow, 1, with_for_update=True, populate_existing=True
        )
        assert head is not None, "audit_head is created by the first migration"
        if not self._hooked:
            event.listen(sync, "after_flush", self._write_pending)
            event.listen(sync, "after_rollback", self._drop_pending)
            self._hooked = True
        # Taken after the get, which begins the transaction if none was open.
        transaction = sync.get_transaction()
        assert transaction is not None
        self._held = held = _Held(transaction, head)
        return held

    def _write_pending(self, session: Session, flush_context: UOWTransaction) -> None:
        """In every flush of the session: insert the entries appended since the last.

        Appending changed the head, so there is a flush to hook into, and it writes
        the head too; a failure here fails the flush, which rolls the transaction back.
        """
        held = self._held
        if held is None or not held.pending:
            return
        rows, held.pending = held.pending, []
        # Left over from a transaction that ended without a rollback event (the
        # session was closed): dropped, as the session drops its unflushed objects.
        if held.transaction is session.get_transaction():
            session.connection().execute(_INSERT_ENTRIES, rows)

    def _drop_pending(self, session: Session) -> None:
        """A rollback (of the transaction or a savepoint) drops entries not yet written.

        A savepoint flushes when it begins, so what is pending then was appended in
        it. The next append locks and reads the head again (after a savepoint's
        rollback the lock is still held, but the head's unwritten tip was expired).
        """
        self._held = None

    async def _settle(self) -> None:
        """Write pending entries, so reads in this transaction see them."""
        if self._held is not None and self._held.pending:
            await self._session.flush()

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
        held = await self._locked_head()
        head = held.head
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
            version=CHAIN_VERSION,
        )
        entry = replace(entry, hash=entry_hash(entry, self.chain_key))
        # No write here: entries and the tip go out together at the next flush or
        # commit (many appends in one transaction become one executemany).
        held.pending.append(_values(entry))
        head.seq, head.hash = entry.seq, entry.hash
        return entry

    async def check_runs(
        self, accept: Callable[[int, str, bytes, str], bool], after: int = 0
    ) -> Declined | None:
        """Offer every entry after ``after`` to ``accept`` a run at a time, in order.

        ``accept`` is ``ChainVerifier.check_run``: the database lays each run out as the
        text it hashes, so no row becomes Python objects. Returns the first run
        ``accept`` declined (the caller checks it entry by entry, then may carry on
        after it), or None once every entry was accepted.

        While one run is being checked the next one is already being read: SQLite
        works in aiosqlite's thread without the GIL, PostgreSQL in its own process.
        Runs start small, so the first check need not wait for a whole run.
        """
        await self._settle()
        start = await self._run_reader()
        size = max(1, self.run_size // 8)
        pending = await start(after, size)
        try:
            while True:
                run = await pending
                if run.count == 0 or run.last is None:
                    return None
                more = run.count == run.size
                if more:
                    size = min(2 * size, self.run_size)
                    pending = await start(run.last, size)
                if run.laid_out is None or not accept(run.after, *run.laid_out):
                    return Declined(run.after, run.last)
                if not more:
                    return None
        finally:
            # Never leave a read running on the connection the caller uses next.
            if not pending.done():
                await asyncio.wait([pending])
            if not pending.cancelled():
                pending.exception()  # retrieved, so never "never retrieved"

    async def _run_reader(self) -> Callable[[int, int], Awaitable[asyncio.Future[_Run]]]:
        """``start(after, size)``: begin reading a run; await the future it gives."""
        conn = await self._session.connection()
        if conn.dialect.name == "sqlite":
            # The driver itself: one thread hop per run (SQLAlchemy's adapter makes
            # four), so the read overlaps the check of the run before.
            raw = await conn.get_raw_connection()
            driver = raw.driver_connection
            assert driver is not None

            async def read_sqlite(after: _Handover, size: int) -> _Run:
                try:
                    rows = await driver.execute_fetchall(_SQLITE_RUN, (after, size))
                except sqlite3.OperationalError as error:
                    if "BLOB" not in str(error):
                        raise
                    # A column tampered to hold a BLOB cannot be laid out as JSON:
                    # left to the entry-by-entry check, which names the entry.
                    return _Run(after.value, size, size, after.value + size, None)
                return _run(after.value, size, *rows[0])

            async def start_sqlite(after: int, size: int) -> asyncio.Future[_Run]:
                handover = _Handover(after)
                pending = asyncio.ensure_future(read_sqlite(handover, size))
                await asyncio.sleep(0)  # the read is queued for aiosqlite's thread
                # Give that thread the GIL until it starts the query: the SQL then runs
                # without the GIL, while the check that follows holds it (a thread
                # waiting for the GIL would get it only every 5 ms).
                handover.taken.wait(_HAND_OVER_MAX)
                return pending

            return start_sqlite

        statement = text(_PG_RUN)

        async def read(after: int, size: int) -> _Run:
            row = (await conn.execute(statement, {"after": after, "size": size})).one()
            return _run(after, size, *row)

        async def start(after: int, size: int) -> asyncio.Future[_Run]:
            pending = asyncio.ensure_future(read(after, size))
            await asyncio.sleep(0)
            return pending

        return start

    async def stored_between(self, after: int, last: int) -> list[AuditEntry | StoredEntry]:
        """Entries ``after`` < seq <= ``last`` as verification checks them one by one.

        Version 2 entries come as stored text (``StoredEntry``), version 1 entries
        decoded (``AuditEntry``), as their hashing rules need.
        """
        await self._settle()
        conn = await self._session.connection()
        c = _ENTRIES.c
        query = (
            select(
                c.seq,
                c.version,
                _at_text(conn),
                c.actor_kind,
                c.actor_ref,
                c.action,
                c.subject_ref,
                c.purpose,
                c.outcome,
                c.details,
                c.prev_hash,
                c.hash,
            )
            .where(c.seq > after, c.seq <= last)
            .order_by(c.seq)
        )
        return [_stored(tuple(row)) for row in await conn.execute(query)]

    async def stream(self, batch: int = 5000) -> AsyncIterator[AuditEntry]:
        """Every entry in sequence order, a batch at a time (memory stays flat).

        Plain column tuples, not ORM objects: reading a million entries is mostly
        object construction otherwise.
        """
        await self._settle()
        table = _ENTRIES
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
        await self._settle()
        rows = await self._session.scalars(
            select(AuditEntryRow).order_by(AuditEntryRow.seq.desc()).limit(n)
        )
        return [_from_row(r) for r in reversed(list(rows))]

    async def about(self, subject_ref: str) -> list[AuditEntry]:
        await self._settle()
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
        await self._settle()
        return await self._session.scalar(
            select(AuditEntryRow.seq).where(AuditEntryRow.hash == hash_).limit(1)
        )

    async def count(self) -> int:
        await self._settle()
        return int(await self._session.scalar(select(func.count()).select_from(AuditEntryRow)) or 0)


class _Handover:
    """The run's first query parameter; binding it tells that the query is starting.

    sqlite3 asks a parameter of a type it does not know to adapt itself
    (``__conform__``, see the sqlite3 docs) right before it runs the statement.
    """

    def __init__(self, value: int) -> None:
        self.value = value
        self.taken = threading.Event()

    def __conform__(self, protocol: object) -> int:
        self.taken.set()
        return self.value


def _run(
    after: int, size: int, count: int, last: int | None, *laid_out: str | bytes | None
) -> _Run:
    offsets, messages, hashes = laid_out
    if isinstance(messages, str):  # PostgreSQL: text (SQLite casts to a BLOB: no decoding)
        messages = messages.encode()
    if not isinstance(offsets, str) or messages is None or not isinstance(hashes, str):
        return _Run(after, size, count, last, None)
    return _Run(after, size, count, last, (offsets, messages, hashes))


def _at_text(conn: AsyncConnection) -> ColumnElement[str]:
    """``at`` as the text version 2 hashes (as stored on SQLite; rendered on PostgreSQL)."""
    if conn.dialect.name == "sqlite":
        return type_coerce(_ENTRIES.c.at, Text())
    return literal_column(_PG_AT_TEXT, Text())


def _stored(r: tuple[Any, ...]) -> AuditEntry | StoredEntry:
    seq, version, at, kind, ref, action, subject, purpose, outcome, details, prev, hash_ = r
    if version == 1:
        try:
            return AuditEntry(
                seq, _parse_at(at), kind, ref, action, subject, purpose, outcome,
                json.loads(details), prev, hash_, version,
            )  # fmt: skip
        except (TypeError, ValueError):
            pass  # not decodable, so not as written: as stored text it shows as edited
    return StoredEntry(seq, version, at, kind, ref, action, subject, purpose, outcome,
                       details, prev, hash_)  # fmt: skip


def _parse_at(at: str) -> datetime:
    moment = datetime.fromisoformat(at)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _values(e: AuditEntry) -> dict[str, Any]:
    """An entry's columns as stored (what ``_INSERT_ENTRIES`` writes)."""
    return {
        "seq": e.seq,
        "at": e.at,
        "actor_kind": e.actor_kind,
        "actor_ref": e.actor_ref,
        "action": e.action,
        "subject_ref": e.subject_ref,
        "purpose": e.purpose,
        "outcome": e.outcome,
        "details": details_text(e.details),
        "prev_hash": e.prev_hash,
        "hash": e.hash,
        "version": e.version,
    }


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
        version=r.version,
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
        r.version,
    )
