"""Appending to the audit log: many entries per transaction, written at flush time.

Entries wait in memory until the session flushes (commit, autoflush, or a read of
the log), then go out as one insert. These tests pin what that must not change:
they land with the transaction's commit and only then, reads in the same
transaction see them, rollbacks (also of a savepoint) drop them, and concurrent
transactions still append one linear chain.
"""

from __future__ import annotations

import asyncio
import itertools

from sqlalchemy import select

from core.app import PrivacyCore, open_core
from core.domain.actor import Actor
from core.services import verify_audit
from core.settings import Settings
from core.storage import UnitOfWork
from core.storage.tables import AuditEntryRow

ACTOR = Actor("system", "test")


async def _record(uow: UnitOfWork, subject: str, n: int = 1) -> None:
    await uow.record(ACTOR, "test.appended", subject_ref=subject, details={"n": n})


async def _subjects(core: PrivacyCore) -> list[str | None]:
    async with core.uow() as uow:
        return [e.subject_ref for e in await uow.audit.tail(10_000)]


async def _assert_linear(core: PrivacyCore, count: int) -> None:
    async with core.uow() as uow:
        entries = await uow.audit.tail(count + 10)
        result = await verify_audit(uow)
        head = await uow.audit.head()
    assert result.ok, result.describe()
    assert result.count == count
    assert [e.seq for e in entries] == list(range(1, count + 1))
    for before, after in itertools.pairwise(entries):
        assert after.prev_hash == before.hash
    assert head == (count, entries[-1].hash if entries else "0" * 64)


async def test_many_entries_in_one_transaction_land_with_its_commit(core: PrivacyCore) -> None:
    async with core.uow() as uow:
        appended = [
            await uow.audit.append(
                at=uow.now(),
                actor=ACTOR,
                action="test.appended",
                subject_ref=f"s{i}",
                outcome="ok",
                details={"i": i},
            )
            for i in range(250)
        ]
        await uow.commit()
    async with core.uow() as uow:
        stored = [e async for e in uow.audit.stream(batch=100)]
    assert stored == appended
    await _assert_linear(core, 250)


async def test_reads_in_the_same_transaction_see_entries_not_yet_committed(
    core: PrivacyCore,
) -> None:
    async with core.uow() as uow:
        await _record(uow, "a")
        await _record(uow, "b")
        assert [e.subject_ref for e in await uow.audit.tail(5)] == ["a", "b"]
        await _record(uow, "a", 2)
        assert [e.details for e in await uow.audit.about("a")] == [{"n": 1}, {"n": 2}]
        await _record(uow, "c")
        assert await uow.audit.count() == 4
        await _record(uow, "d")
        assert [e.subject_ref async for e in uow.audit.stream()] == ["a", "b", "a", "c", "d"]
        await _record(uow, "e")
        result = await verify_audit(uow)
        assert (result.ok, result.count) == (True, 6)
        await _record(uow, "f")
        # Plain ORM queries of the table autoflush them, like any pending change.
        rows = await uow.session.scalars(select(AuditEntryRow.subject_ref))
        assert sorted(r or "" for r in rows) == ["a", "a", "b", "c", "d", "e", "f"]
        # ... and so does a query of anything else, once the head has changed.
        await _record(uow, "g")
        await uow.session.execute(select(AuditEntryRow.seq).limit(1))
        # Not committed: nothing lands.
    assert await _subjects(core) == []
    await _assert_linear(core, 0)


async def test_rolled_back_entries_never_land_and_the_chain_goes_on(core: PrivacyCore) -> None:
    async with core.uow() as uow:
        for i in range(5):
            await _record(uow, f"gone{i}")
        await uow.rollback()
        await _record(uow, "kept1")
        await uow.commit()
        await _record(uow, "gone-again")  # the unit of work ends without a commit
    async with core.uow() as uow:
        await _record(uow, "kept2")
        await uow.commit()
    assert await _subjects(core) == ["kept1", "kept2"]
    await _assert_linear(core, 2)


async def test_entries_flushed_then_rolled_back_do_not_land(core: PrivacyCore) -> None:
    async with core.uow() as uow:
        await _record(uow, "gone1")
        await uow.session.flush()
        await _record(uow, "gone2")
        assert await uow.audit.count() == 2
        await uow.rollback()
        await _record(uow, "kept")
        await uow.commit()
    assert await _subjects(core) == ["kept"]
    await _assert_linear(core, 1)


async def test_entries_of_a_rolled_back_savepoint_are_dropped(core: PrivacyCore) -> None:
    async with core.uow() as uow:
        await _record(uow, "before")
        savepoint = await uow.session.begin_nested()
        await _record(uow, "inside")
        await savepoint.rollback()
        await _record(uow, "after")
        await uow.commit()
    assert await _subjects(core) == ["before", "after"]
    await _assert_linear(core, 2)


async def test_entries_of_a_released_savepoint_land(core: PrivacyCore) -> None:
    async with core.uow() as uow:
        await _record(uow, "before")
        async with uow.session.begin_nested():
            await _record(uow, "inside")
        await _record(uow, "after")
        await uow.commit()
    assert await _subjects(core) == ["before", "inside", "after"]
    await _assert_linear(core, 3)


async def test_concurrent_transactions_of_two_cores_keep_one_linear_chain(
    core: PrivacyCore, settings: Settings
) -> None:
    """Two engines (as two processes would have) on one database, many writers each."""
    other = await open_core(settings)

    async def writer(app: PrivacyCore, name: str) -> None:
        for round_ in range(3):
            async with app.uow() as uow:
                for i in range(5):
                    await _record(uow, f"{name}-{round_}-{i}")
                    await asyncio.sleep(0)  # let the other writers in between appends
                if round_ == 1:
                    continue  # one round of each writer rolls back
                await uow.commit()

    try:
        await asyncio.gather(
            *(
                writer(app, f"{tag}{n}")
                for n in range(4)
                for tag, app in (("a", core), ("b", other))
            )
        )
    finally:
        await other.close()
    subjects = await _subjects(core)
    assert len(subjects) == 8 * 2 * 5
    assert not [s for s in subjects if s and "-1-" in s]
    for writer_name in (f"{tag}{n}" for n in range(4) for tag in "ab"):
        mine = [s for s in subjects if s and s.startswith(f"{writer_name}-")]
        assert mine == [f"{writer_name}-{r}-{i}" for r in (0, 2) for i in range(5)]
    await _assert_linear(core, 80)
