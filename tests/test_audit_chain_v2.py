"""Audit chain version 2: the stored text of the columns is hashed, version 1 still verifies.

Version 2 entries are checked in runs the database lays out (``check_runs`` and
``ChainVerifier.check_run``); anything a run cannot vouch for is checked entry by entry.
These tests tamper with single columns, mix versions, and upgrade a 0005 database.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy import select, update

from core.app import PrivacyCore, open_core
from core.audit import (
    GENESIS_HASH,
    RECORD_SEP,
    AuditEntry,
    ChainVerifier,
    VerifyResult,
    entry_hash,
    entry_message,
    verify_chain,
)
from core.audit.chain import _Mac
from core.crypto import generate_master_key
from core.domain.actor import Actor
from core.domain.customer import IdentityKind
from core.services import (
    DecideConsent,
    RegisterCustomer,
    decide_consent,
    register_customer,
    verify_audit,
)
from core.settings import Settings
from core.storage.database import _alembic_config
from core.storage.repositories import AuditRepository
from core.storage.tables import AuditEntryRow, AuditHeadRow
from core.storage.types import UTCDateTime

T0 = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
KEY = b"k" * 32


def chain(n: int, version: int = 2, prev: str = GENESIS_HASH, first: int = 1) -> list[AuditEntry]:
    entries = []
    for seq in range(first, first + n):
        entry = AuditEntry(
            seq=seq,
            at=T0 + timedelta(seconds=seq, microseconds=seq),
            actor_kind="customer",
            actor_ref=f"c{seq:024x}",
            action="consent.given",
            subject_ref=f"c{seq:024x}" if seq % 2 else None,
            purpose="marketing" if seq % 3 else None,
            outcome="ok",
            details={"channel": "telegram", "n": seq},
            prev_hash=prev,
            version=version,
        )
        entry = replace(entry, hash=entry_hash(entry, KEY))
        entries.append(entry)
        prev = entry.hash
    return entries


def packed(entries: list[AuditEntry]) -> tuple[int, str, bytes, str]:
    """A run laid out as the database lays it out for ``check_run``."""
    after = entries[0].seq - 1
    return (
        after,
        ",".join(str(e.seq - after) for e in entries),
        RECORD_SEP.join(entry_message(e) for e in entries),
        ",".join(e.hash for e in entries),
    )


# --- the rules, in memory -------------------------------------------------------------


def test_version_2_message_is_the_stored_columns_as_a_json_array() -> None:
    entry = AuditEntry(
        seq=7,
        at=datetime(2026, 3, 1, 7, 15, 30, 5, tzinfo=timezone(timedelta(hours=8))),
        actor_kind="staff",
        actor_ref="s1",
        action="customer.viewed",
        subject_ref=None,
        purpose="",
        outcome="ok",
        details={"reason": 'a "quoted" é\n'},
        prev_hash="a" * 64,
    )
    expected = (
        '["' + "a" * 64 + '",2,"2026-02-28 23:15:30.000005","staff","s1","customer.viewed",'
        'null,"","ok","{\\"reason\\": \\"a \\\\\\"quoted\\\\\\" é\\\\n\\"}"]'
    )
    assert entry_message(entry) == expected.encode()


def test_version_1_entries_keep_the_old_rule() -> None:
    """The rule every entry written before chain version 2 was hashed with, verbatim."""
    (entry,) = chain(1, version=1)
    content = {
        "at": entry.at.isoformat(timespec="microseconds"),
        "actor": [entry.actor_kind, entry.actor_ref],
        "action": entry.action,
        "subject": entry.subject_ref,
        "purpose": entry.purpose,
        "outcome": entry.outcome,
        "details": entry.details,
    }
    message = entry.prev_hash.encode() + b"\n"
    message += json.dumps(content, sort_keys=True, separators=(",", ":")).encode()
    assert entry.hash == hmac.new(KEY, message, hashlib.sha256).hexdigest()


def test_the_version_is_part_of_what_is_hashed() -> None:
    (v2,) = chain(1)
    assert entry_hash(replace(v2, version=1), KEY) != v2.hash
    with pytest.raises(ValueError, match="version 3"):
        entry_hash(replace(v2, version=3), KEY)


@pytest.mark.parametrize("key", [b"", b"k" * 16, b"k" * 32, b"k" * 64, b"k" * 65, b"k" * 200])
def test_the_verifiers_mac_is_hmac_sha256(key: bytes) -> None:
    for message in (b"", b"x", b"y" * 63, b"z" * 64, b"w" * 300):
        assert _Mac(key).hexdigest(message) == hmac.new(key, message, hashlib.sha256).hexdigest()


def test_a_log_of_version_1_then_version_2_entries_verifies_in_memory() -> None:
    old = chain(3, version=1)
    new = chain(3, prev=old[-1].hash, first=4)
    assert verify_chain([*old, *new], KEY) == VerifyResult(True, 6)
    edited = replace(old[1], details={"channel": "forged"})
    assert verify_chain([old[0], edited, old[2], *new], KEY).first_bad_seq == 2


def test_a_run_of_version_2_entries_is_vouched_for_at_once() -> None:
    entries = chain(6)
    verifier = ChainVerifier(KEY)
    assert verifier.check_run(*packed(entries[:4]))
    assert verifier.check_run(*packed(entries[4:]))
    assert verifier.result((6, entries[-1].hash)) == VerifyResult(True, 6)


def runs_to_decline() -> list[Any]:
    entries = chain(5)
    _, offsets, messages, hashes = packed(entries)
    swapped = packed([entries[0], entries[2], entries[1], *entries[3:]])
    v1 = chain(5, version=1)
    # version 1 entries laid out as the database lays out every row (as version 2 would
    # hash them, with the version column's 1): their hashes follow the other rule
    v1_messages = RECORD_SEP.join(
        entry_message(replace(e, version=2)).replace(b'",2,"', b'",1,"', 1) for e in v1
    )
    # a boundary moved: entry 1's hash loses its last character to entry 2's hash
    # (joined, the stored hashes read the same; each one no longer does)
    moved = hashes[:63] + "," + hashes[63] + hashes[65:]
    relinked = messages.replace(GENESIS_HASH.encode(), b"f" * 64, 1)
    return [
        pytest.param(0, "1,2,4,5,6", messages, hashes, id="gap"),
        pytest.param(0, "1,3,2,4,5", *swapped[2:], id="order"),
        pytest.param(0, offsets, *swapped[2:], id="order-unnoticed-by-offsets"),
        pytest.param(0, offsets, messages.replace(b'"ok"', b'"no"', 1), hashes, id="edited"),
        pytest.param(0, offsets, messages, hashes[:-1] + "x", id="hash"),
        pytest.param(0, offsets, messages, moved, id="hash-boundary"),
        pytest.param(0, offsets, relinked, hashes, id="first-link"),
        pytest.param(1, *packed(entries[1:])[1:], id="not-from-1"),
        pytest.param(5, offsets, messages, hashes, id="not-after-the-last-checked"),
        pytest.param(0, offsets, messages + RECORD_SEP, hashes, id="extra-message"),
        pytest.param(0, offsets, v1_messages, packed(v1)[3], id="version-1"),
    ]


@pytest.mark.parametrize(("after", "offsets", "messages", "hashes"), runs_to_decline())
def test_a_run_it_cannot_vouch_for_is_declined_and_nothing_is_counted(
    after: int, offsets: str, messages: bytes, hashes: str
) -> None:
    verifier = ChainVerifier(KEY)
    assert not verifier.check_run(after, offsets, messages, hashes)
    assert (verifier.count, verifier.expected_seq) == (0, 1)
    assert verify_chain(chain(5), KEY).ok  # the entries themselves are fine


def test_a_run_that_does_not_follow_the_last_entry_checked_is_declined() -> None:
    entries = chain(6)
    verifier = ChainVerifier(KEY)
    assert verifier.check_run(*packed(entries[:3]))
    after, offsets, messages, hashes = packed(entries[3:])
    relinked = messages.replace(entries[2].hash.encode(), b"0" * 64, 1)
    assert not verifier.check_run(after, offsets, relinked, hashes)
    assert (verifier.count, verifier.expected_seq) == (3, 4)
    assert verifier.check_run(after, offsets, messages, hashes)
    assert verifier.result((6, entries[-1].hash)) == VerifyResult(True, 6)


# --- the log in the database ----------------------------------------------------------


@pytest.fixture
async def audited(core: PrivacyCore) -> PrivacyCore:
    """Six entries: two registrations and three consent decisions by the services, then
    one appended directly with awkward text (quotes, control characters, "" vs None)."""
    refs = []
    for telegram_id in ("424242", "515151"):
        async with core.uow() as uow:
            customer, _ = await register_customer(
                RegisterCustomer(IdentityKind.TELEGRAM, telegram_id), uow
            )
            await uow.commit()
        refs.append(customer.ref)
    for ref, purpose in ((refs[0], "marketing"), (refs[1], "follow_up"), (refs[0], "analytics")):
        async with core.uow() as uow:
            await decide_consent(DecideConsent(ref, purpose, give=True), uow)
            await uow.commit()
    async with core.uow() as uow:
        await uow.audit.append(
            at=core.clock.now(),
            actor=Actor("system", "test"),
            action="test.awkward",
            subject_ref="",
            purpose=None,
            outcome="ok",
            details={"text": 'quotes " and \\ backslash, é, 😀, \n\t\x01\x1e\x1f\x7f', "x": [1]},
        )
        await uow.commit()
    return core


async def verify(core: PrivacyCore) -> VerifyResult:
    async with core.uow() as uow:
        return await verify_audit(uow)


@pytest.fixture
def checked_one_by_one(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The sequence numbers verification had to check one at a time (the slow path)."""
    seen: list[int] = []
    check = ChainVerifier.check

    def spy(self: ChainVerifier, entry: Any) -> VerifyResult | None:
        seen.append(entry.seq)
        return check(self, entry)

    monkeypatch.setattr(ChainVerifier, "check", spy)
    return seen


@pytest.fixture(params=[AuditRepository.run_size, 2], ids=["one-run", "runs-of-2"])
def run_size(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    size: int = request.param
    monkeypatch.setattr(AuditRepository, "run_size", size)
    return size


async def column(core: PrivacyCore, seq: int, name: str) -> Any:
    async with core.uow() as uow:
        return await uow.session.scalar(
            select(AuditEntryRow.__table__.c[name]).where(AuditEntryRow.seq == seq)
        )


async def set_column(core: PrivacyCore, seq: int, **values: Any) -> None:
    async with core.uow() as uow:
        await uow.session.execute(
            update(AuditEntryRow.__table__).where(AuditEntryRow.seq == seq).values(**values)
        )
        await uow.commit()


async def test_new_entries_are_written_as_version_2(audited: PrivacyCore) -> None:
    async with audited.uow() as uow:
        versions = set(await uow.session.scalars(select(AuditEntryRow.version)))
    assert versions == {2}


async def test_an_untouched_log_is_vouched_for_by_runs_alone(
    audited: PrivacyCore, run_size: int, checked_one_by_one: list[int]
) -> None:
    """Also proves the database lays out byte for byte what Python hashed on append,
    awkward text included (quotes, backslashes, control characters, emoji, "" vs None)."""
    assert await verify(audited) == VerifyResult(True, 6)
    assert checked_one_by_one == []


def edits() -> Iterator[Any]:
    moment = datetime(2026, 11, 2, 10, 0, 0, 123456, tzinfo=UTC)
    yield pytest.param("at", lambda at: at + timedelta(microseconds=1), id="at")
    yield pytest.param("at", lambda at: moment, id="at-other")
    yield pytest.param("actor_kind", lambda v: "staff", id="actor_kind")
    yield pytest.param("actor_ref", lambda v: v + "0", id="actor_ref")
    yield pytest.param("action", lambda v: "consent.withdrawn", id="action")
    yield pytest.param("subject_ref", lambda v: None, id="subject_ref-none")
    yield pytest.param("subject_ref", lambda v: "", id="subject_ref-empty")
    yield pytest.param("purpose", lambda v: "", id="purpose-empty")
    yield pytest.param("purpose", lambda v: v.upper(), id="purpose")
    yield pytest.param("outcome", lambda v: "denied", id="outcome")
    # the same JSON, other text: version 2 hashes the stored text
    yield pytest.param("details", lambda v: v.replace(": ", ":"), id="details-spacing")
    yield pytest.param("details", lambda v: v.replace("}", ', "x": 1}'), id="details")
    yield pytest.param("version", lambda v: 1, id="version-1")
    yield pytest.param("version", lambda v: 3, id="version-3")
    yield pytest.param("hash", lambda v: v[::-1], id="hash")


@pytest.mark.parametrize(("name", "change"), list(edits()))
async def test_an_edit_to_any_column_of_a_version_2_entry_is_named(
    audited: PrivacyCore, run_size: int, name: str, change: Any
) -> None:
    seq = 5  # a consent decision: every column set (purpose too)
    before = await column(audited, seq, name)
    after = change(before)
    assert after != before
    await set_column(audited, seq, **{name: after})
    result = await verify(audited)
    assert (result.ok, result.first_bad_seq, result.count) == (False, seq, seq - 1), result
    assert result.problem == "edited: its content does not match its hash"


async def test_an_edit_that_keeps_the_instant_but_not_the_stored_text_is_named(
    audited: PrivacyCore,
) -> None:
    if not audited.db.is_sqlite:
        pytest.skip("PostgreSQL stores an instant, not text")
    async with audited.uow() as uow:
        await uow.session.execute(
            sa.text("UPDATE audit_entries SET at = replace(at, ' ', 'T') WHERE seq = 2")
        )
        await uow.commit()
    result = await verify(audited)
    assert (result.ok, result.first_bad_seq) == (False, 2), result


@pytest.mark.parametrize("junk", ["char(0)", "char(0) || 'x'", "char(30)", "char(31)"])
async def test_control_characters_appended_to_a_column_are_named(
    audited: PrivacyCore, run_size: int, junk: str
) -> None:
    """SQLite keeps text after a NUL; so must the bytes the database lays out."""
    if not audited.db.is_sqlite and "char(0)" in junk:
        pytest.skip("PostgreSQL text cannot hold NUL")
    concat = junk.replace("char", "chr") if not audited.db.is_sqlite else junk
    async with audited.uow() as uow:
        await uow.session.execute(
            sa.text(f"UPDATE audit_entries SET actor_ref = actor_ref || {concat} WHERE seq = 3")
        )
        await uow.commit()
    result = await verify(audited)
    assert (result.ok, result.first_bad_seq) == (False, 3), result


async def test_a_column_tampered_to_hold_bytes_is_named(
    audited: PrivacyCore, run_size: int
) -> None:
    if not audited.db.is_sqlite:
        pytest.skip("PostgreSQL columns keep their type")
    async with audited.uow() as uow:
        await uow.session.execute(
            sa.text("UPDATE audit_entries SET actor_ref = CAST(actor_ref AS BLOB) WHERE seq = 3")
        )
        await uow.commit()
    result = await verify(audited)
    assert (result.ok, result.first_bad_seq) == (False, 3), result
    assert result.problem == "edited: its content does not match its hash"


async def test_tampering_is_named_across_runs(audited: PrivacyCore, run_size: int) -> None:
    async with audited.uow() as uow:
        await uow.session.execute(sa.text("DELETE FROM audit_entries WHERE seq = 4"))
        await uow.commit()
    result = await verify(audited)
    assert (result.ok, result.first_bad_seq) == (False, 4), result
    assert result.problem is not None
    assert result.problem.startswith("deleted")


async def test_reordered_entries_are_named_across_runs(audited: PrivacyCore, run_size: int) -> None:
    async with audited.uow() as uow:
        for statement in (
            "UPDATE audit_entries SET seq = 100 WHERE seq = 2",
            "UPDATE audit_entries SET seq = 2 WHERE seq = 3",
            "UPDATE audit_entries SET seq = 3 WHERE seq = 100",
        ):
            await uow.session.execute(sa.text(statement))
        await uow.commit()
    result = await verify(audited)
    assert (result.ok, result.first_bad_seq) == (False, 2), result
    assert result.problem == "reordered: it follows entry 3"


# --- version 1 entries in the database ------------------------------------------------


def v1_rows(key: bytes, first: int, prev: str, n: int) -> list[dict[str, Any]]:
    """Entries as code before chain version 2 wrote them (no version column)."""
    rows = []
    for seq in range(first, first + n):
        entry = AuditEntry(
            seq=seq,
            at=T0 + timedelta(minutes=seq, microseconds=seq),
            actor_kind="system",
            actor_ref="system",
            action="customer.registered",
            subject_ref=f"c{seq:031d}",
            purpose=None,
            outcome="ok",
            details={"channel": "telegram", "note": "é"},
            prev_hash=prev,
            version=1,
        )
        prev = entry_hash(entry, key)
        rows.append({
            "seq": seq, "at": entry.at, "actor_kind": entry.actor_kind,
            "actor_ref": entry.actor_ref, "action": entry.action,
            "subject_ref": entry.subject_ref, "purpose": entry.purpose,
            "outcome": entry.outcome, "details": json.dumps(entry.details, sort_keys=True,
            ensure_ascii=False), "prev_hash": entry.prev_hash, "hash": prev,
        })  # fmt: skip
    return rows


_OLD_AUDIT_ENTRIES = sa.table(
    "audit_entries",
    *(sa.column(name) for name in ("seq", "actor_kind", "actor_ref", "action", "subject_ref",
                                   "purpose", "outcome", "details", "prev_hash", "hash")),
    sa.column("at", UTCDateTime()),
)  # fmt: skip


async def write_v1_log(core: PrivacyCore, n: int) -> None:
    rows = v1_rows(core.indexer.derive("audit-chain"), 1, GENESIS_HASH, n)
    async with core.db.engine.begin() as conn:
        await conn.execute(sa.insert(_OLD_AUDIT_ENTRIES), rows)
        await conn.execute(update(AuditHeadRow.__table__).values(seq=n, hash=rows[-1]["hash"]))


async def add_v2_entries(core: PrivacyCore, n: int) -> None:
    async with core.uow() as uow:
        for i in range(n):
            await uow.audit.append(
                at=core.clock.now(), actor=Actor("system", "test"), action=f"test.{i}",
                subject_ref=None, outcome="ok", details={"i": i},
            )  # fmt: skip
        await uow.commit()


async def test_version_1_entries_followed_by_version_2_entries_verify(
    core: PrivacyCore, run_size: int, checked_one_by_one: list[int]
) -> None:
    await write_v1_log(core, 5)
    await add_v2_entries(core, 6)
    assert await verify(core) == VerifyResult(True, 11)
    async with core.uow() as uow:
        versions = list(
            await uow.session.scalars(select(AuditEntryRow.version).order_by(AuditEntryRow.seq))
        )
    assert versions == [1] * 5 + [2] * 6
    # version 1 entries go one by one; runs of version 2 entries need no help
    assert set(checked_one_by_one) >= {1, 2, 3, 4, 5}
    if run_size == 2:
        assert max(checked_one_by_one) <= 6  # at most the run that holds entry 5


@pytest.mark.parametrize(("seq", "name", "value"), [
    (2, "details", '{"channel": "forged", "note": "é"}'),
    (5, "actor_ref", "staff"),
    (5, "version", 2),
    (6, "version", 1),
    (7, "outcome", "denied"),
])  # fmt: skip
async def test_edits_in_a_mixed_log_are_named(
    core: PrivacyCore, run_size: int, seq: int, name: str, value: Any
) -> None:
    await write_v1_log(core, 5)
    await add_v2_entries(core, 6)
    await set_column(core, seq, **{name: value})
    result = await verify(core)
    assert (result.ok, result.first_bad_seq) == (False, seq), result
    assert result.problem == "edited: its content does not match its hash"


async def test_deleting_the_first_version_2_entry_is_named(core: PrivacyCore) -> None:
    await write_v1_log(core, 3)
    await add_v2_entries(core, 3)
    async with core.uow() as uow:
        await uow.session.execute(sa.text("DELETE FROM audit_entries WHERE seq = 4"))
        await uow.commit()
    result = await verify(core)
    assert (result.ok, result.first_bad_seq) == (False, 4), result
    assert result.problem is not None
    assert result.problem.startswith("deleted")


# --- the migration ----------------------------------------------------------------------


async def migrate(core: PrivacyCore, revision: str, *, down: bool = False) -> None:
    def run(connection: sa.Connection) -> None:
        step = command.downgrade if down else command.upgrade
        step(_alembic_config(connection), revision)

    async with core.db.engine.begin() as conn:
        await conn.run_sync(run)


async def test_a_0005_database_with_version_1_entries_upgrades_and_still_verifies(
    settings: Settings,
) -> None:
    settings = replace(settings, master_key=generate_master_key().encoded())
    first = await open_core(settings)  # makes the keys
    try:
        await migrate(first, "0005", down=True)
        async with first.db.engine.connect() as conn:
            columns = await conn.run_sync(
                lambda sync: [c["name"] for c in sa.inspect(sync).get_columns("audit_entries")]
            )
        assert "version" not in columns  # as a shop running the 0005 code has it
        await write_v1_log(first, 4)
    finally:
        await first.close()

    again = await open_core(settings)  # upgrades through 0006 and 0007
    try:
        assert await verify(again) == VerifyResult(True, 4)
        await add_v2_entries(again, 3)
        assert await verify(again) == VerifyResult(True, 7)
        async with again.uow() as uow:
            versions = list(
                await uow.session.scalars(select(AuditEntryRow.version).order_by(AuditEntryRow.seq))
            )
        assert versions == [1, 1, 1, 1, 2, 2, 2]
        await set_column(again, 2, action="customer.erased")
        result = await verify(again)
        assert (result.ok, result.first_bad_seq) == (False, 2), result
    finally:
        await again.close()


async def test_downgrading_below_0007_with_version_2_entries_is_refused(
    core: PrivacyCore,
) -> None:
    await add_v2_entries(core, 1)
    with pytest.raises(RuntimeError, match="chain version 2"):
        await migrate(core, "0006", down=True)
    assert await verify(core) == VerifyResult(True, 1)
