"""The audit chain: an untouched log verifies; any tampering is named, at the first bad entry."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text

from core.app import PrivacyCore
from core.audit import (
    GENESIS_HASH,
    AuditEntry,
    VerifyResult,
    details_text,
    entry_hash,
    verify_chain,
)
from core.domain.customer import IdentityKind
from core.services import (
    ChangeLanguage,
    DecideConsent,
    MarkNoticeSeen,
    RegisterCustomer,
    change_language,
    decide_consent,
    mark_notice_seen,
    register_customer,
    verify_audit,
)
from core.storage.tables import AuditEntryRow

# --- verify_chain on entries held in memory ----------------------------------------

T0 = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
KEY = b"k" * 32


def make_chain(n: int) -> list[AuditEntry]:
    entries: list[AuditEntry] = []
    prev = GENESIS_HASH
    for seq in range(1, n + 1):
        entry = AuditEntry(
            seq=seq,
            at=T0 + timedelta(seconds=seq),
            actor_kind="customer",
            actor_ref=f"c{seq:024x}",
            action="consent.given",
            subject_ref=f"c{seq:024x}",
            purpose="marketing",
            outcome="ok",
            details={"channel": "telegram", "n": seq},
            prev_hash=prev,
        )
        entry = replace(entry, hash=entry_hash(entry, KEY))
        entries.append(entry)
        prev = entry.hash
    return entries


def renumbered(entries: list[AuditEntry]) -> list[AuditEntry]:
    return [replace(e, seq=i) for i, e in enumerate(entries, start=1)]


def lookup(entries: list[AuditEntry]) -> dict[str, int]:
    return {e.hash: e.seq for e in entries}


def test_untouched_chain_verifies_with_its_count() -> None:
    assert verify_chain(make_chain(5), KEY) == VerifyResult(True, 5)


def test_empty_chain_verifies() -> None:
    assert verify_chain([], KEY) == VerifyResult(True, 0)


def test_entry_hash_ignores_the_sequence_number() -> None:
    entry = make_chain(1)[0]
    assert entry_hash(replace(entry, seq=99), KEY) == entry.hash


@pytest.mark.parametrize(
    "change",
    [
        {"action": "consent.withdrawn"},
        {"outcome": "denied"},
        {"purpose": "analytics"},
        {"subject_ref": "c0"},
        {"actor_ref": "system"},
        {"details": {"channel": "console", "n": 3}},
        {"at": T0},
        {"prev_hash": "f" * 64},
    ],
)
def test_entry_hash_covers_every_field(change: dict[str, object]) -> None:
    entry = make_chain(1)[0]
    assert entry_hash(replace(entry, **change), KEY) != entry.hash  # type: ignore[arg-type]


def test_edited_entry_is_named_as_edited() -> None:
    chain = make_chain(5)
    chain[2] = replace(chain[2], details={"channel": "forged"})
    result = verify_chain(chain, KEY)
    assert (result.ok, result.first_bad_seq, result.count) == (False, 3, 2)
    assert result.problem is not None
    assert result.problem.startswith("edited")


def test_deleted_entry_is_named_as_deleted() -> None:
    chain = make_chain(5)
    del chain[2]
    result = verify_chain(chain, KEY)
    assert (result.ok, result.first_bad_seq) == (False, 3)
    assert result.problem is not None
    assert result.problem.startswith("deleted")


def test_deleted_and_renumbered_entry_is_named_as_deleted() -> None:
    chain = make_chain(5)
    del chain[2]
    chain = renumbered(chain)
    result = verify_chain(chain, KEY, lookup(chain).get)
    assert (result.ok, result.first_bad_seq) == (False, 3)
    assert result.problem is not None
    assert result.problem.startswith("deleted")


def test_inserted_entry_is_named_as_inserted() -> None:
    chain = make_chain(5)
    forged = replace(chain[2], action="staff.added", prev_hash=chain[1].hash)
    forged = replace(forged, hash=entry_hash(forged, KEY))
    chain = renumbered([*chain[:2], forged, *chain[2:]])
    result = verify_chain(chain, KEY, lookup(chain).get)
    assert (result.ok, result.first_bad_seq) == (False, 3)
    assert result.problem is not None
    assert result.problem.startswith("inserted")


def test_swapped_entries_are_named_as_reordered() -> None:
    chain = make_chain(5)
    chain[2], chain[3] = chain[3], chain[2]
    chain = renumbered(chain)
    result = verify_chain(chain, KEY, lookup(chain).get)
    assert (result.ok, result.first_bad_seq) == (False, 3)
    assert result.problem is not None
    assert result.problem.startswith("reordered")


def test_describe_names_the_broken_entry() -> None:
    chain = make_chain(3)
    chain[1] = replace(chain[1], outcome="denied")
    assert verify_chain(chain, KEY).describe().startswith("BROKEN at entry 2: edited")


# --- the audit log in the database, tampered with by SQL ---------------------------


@pytest.fixture
async def audited(core: PrivacyCore) -> PrivacyCore:
    """A log of six entries made by services, as in a shop's first minute."""
    async with core.uow() as uow:
        customer, _ = await register_customer(
            RegisterCustomer(IdentityKind.TELEGRAM, "424242"), uow
        )
        await uow.commit()
    ref = customer.ref
    async with core.uow() as uow:
        await mark_notice_seen(MarkNoticeSeen(ref), uow)
        await uow.commit()
    for purpose, give in (("marketing", True), ("follow_up", True), ("marketing", False)):
        async with core.uow() as uow:
            await decide_consent(DecideConsent(ref, purpose, give=give), uow)
            await uow.commit()
    async with core.uow() as uow:
        await change_language(ChangeLanguage(ref, "zh_Hant"), uow)
        await uow.commit()
    return core


async def tamper(core: PrivacyCore, *statements: str) -> None:
    async with core.uow() as uow:
        for statement in statements:
            await uow.session.execute(text(statement))
        await uow.commit()


async def verify(core: PrivacyCore) -> VerifyResult:
    async with core.uow() as uow:
        return await verify_audit(uow)


def assert_broken(result: VerifyResult, seq: int, kind: str) -> None:
    assert (result.ok, result.first_bad_seq) == (False, seq), result.describe()
    assert result.problem is not None
    assert result.problem.startswith(kind), result.describe()


def shift_up_from(k: int) -> tuple[str, str]:
    """Make room at seq k (two steps, so the primary key never collides mid-statement)."""
    return (
        f"UPDATE audit_entries SET seq = -(seq + 1) WHERE seq >= {k}",
        "UPDATE audit_entries SET seq = -seq WHERE seq < 0",
    )


async def forge_at(core: PrivacyCore, k: int) -> None:
    """Insert a well-formed entry at k, linked to k-1, hashed as the core would."""
    await tamper(core, *shift_up_from(k))
    async with core.uow() as uow:
        before = await uow.session.get(AuditEntryRow, k - 1)
        prev_hash = before.hash if before is not None else GENESIS_HASH
        forged = AuditEntry(
            seq=k,
            at=datetime(2026, 11, 2, 10, 0, 0, 123456, tzinfo=UTC),
            actor_kind="staff",
            actor_ref="0123456789abcdef",
            action="consent.given",
            subject_ref="cforged",
            purpose="third_party_sharing",
            outcome="ok",
            details={"channel": "telegram"},
            prev_hash=prev_hash,
        )
        # An insider holding the master key; without it the forgery shows as "edited".
        forged = replace(forged, hash=entry_hash(forged, uow.audit.chain_key))
        uow.session.add(
            AuditEntryRow(
                seq=forged.seq,
                at=forged.at,
                actor_kind=forged.actor_kind,
                actor_ref=forged.actor_ref,
                action=forged.action,
                subject_ref=forged.subject_ref,
                purpose=forged.purpose,
                outcome=forged.outcome,
                details=details_text(forged.details),
                prev_hash=forged.prev_hash,
                hash=forged.hash,
                version=forged.version,
            )
        )
        await uow.commit()


async def swap_contents(core: PrivacyCore, k: int) -> None:
    """Swap everything but the sequence numbers of entries k and k+1."""
    columns = [c.key for c in AuditEntryRow.__table__.columns if c.key != "seq"]
    async with core.uow() as uow:
        rows = list(
            await uow.session.scalars(
                select(AuditEntryRow).where(AuditEntryRow.seq.in_([k, k + 1]))
            )
        )
        first, second = sorted(rows, key=lambda r: r.seq)
        for column in columns:
            a, b = getattr(first, column), getattr(second, column)
            setattr(first, column, b)
            setattr(second, column, a)
        await uow.commit()


async def test_untouched_log_verifies_with_its_count(audited: PrivacyCore) -> None:
    assert await verify(audited) == VerifyResult(True, 6)


async def test_verified_entries_were_written_by_the_services(audited: PrivacyCore) -> None:
    async with audited.uow() as uow:
        actions = [e.action for e in await uow.audit.tail(10)]
    assert actions == [
        "customer.registered",
        "notice.shown",
        "consent.given",
        "consent.given",
        "consent.withdrawn",
        "customer.language",
    ]


async def test_edited_details_are_named_by_verify(audited: PrivacyCore) -> None:
    await tamper(audited, """UPDATE audit_entries SET details = '{"channel": "x"}' WHERE seq = 3""")
    assert_broken(await verify(audited), 3, "edited")


async def test_edited_action_is_named_by_verify(audited: PrivacyCore) -> None:
    await tamper(audited, "UPDATE audit_entries SET action = 'consent.given' WHERE seq = 5")
    assert_broken(await verify(audited), 5, "edited")


async def test_edited_outcome_is_named_by_verify(audited: PrivacyCore) -> None:
    await tamper(audited, "UPDATE audit_entries SET outcome = 'denied' WHERE seq = 1")
    assert_broken(await verify(audited), 1, "edited")


async def test_deleted_entry_is_named_by_verify(audited: PrivacyCore) -> None:
    await tamper(audited, "DELETE FROM audit_entries WHERE seq = 3")
    assert_broken(await verify(audited), 3, "deleted")


async def test_deleted_first_entry_is_named_by_verify(audited: PrivacyCore) -> None:
    await tamper(audited, "DELETE FROM audit_entries WHERE seq = 1")
    assert_broken(await verify(audited), 1, "deleted")


async def test_deleted_newest_entry_is_named_by_verify(audited: PrivacyCore) -> None:
    await tamper(audited, "DELETE FROM audit_entries WHERE seq = 6")
    assert_broken(await verify(audited), 6, "deleted")


async def test_deleted_and_renumbered_entry_is_named_by_verify(audited: PrivacyCore) -> None:
    await tamper(
        audited,
        "DELETE FROM audit_entries WHERE seq = 3",
        "UPDATE audit_entries SET seq = -(seq - 1) WHERE seq > 3",
        "UPDATE audit_entries SET seq = -seq WHERE seq < 0",
    )
    assert_broken(await verify(audited), 3, "deleted")


async def test_entry_appended_after_the_tip_is_named_by_verify(audited: PrivacyCore) -> None:
    await forge_at(audited, 7)
    assert_broken(await verify(audited), 7, "inserted")


async def test_inserted_entry_is_named_by_verify(audited: PrivacyCore) -> None:
    await forge_at(audited, 4)
    assert_broken(await verify(audited), 4, "inserted")


async def test_entry_inserted_before_the_first_is_named_by_verify(audited: PrivacyCore) -> None:
    await forge_at(audited, 1)
    assert_broken(await verify(audited), 1, "inserted")


async def test_swapped_entries_are_named_as_reordered_by_verify(audited: PrivacyCore) -> None:
    await swap_contents(audited, 3)
    assert_broken(await verify(audited), 3, "reordered")


async def test_swapped_first_entries_are_named_as_reordered_by_verify(
    audited: PrivacyCore,
) -> None:
    await swap_contents(audited, 1)
    assert_broken(await verify(audited), 1, "reordered")


async def test_log_keeps_verifying_after_more_actions(audited: PrivacyCore) -> None:
    async with audited.uow() as uow:
        await register_customer(RegisterCustomer(IdentityKind.TELEGRAM, "515151"), uow)
        await uow.commit()
    assert await verify(audited) == VerifyResult(True, 7)


def test_an_entry_rehashed_without_the_chain_key_is_named_as_edited() -> None:
    chain = make_chain(3)
    forged = replace(chain[1], details={"channel": "forged"})
    chain[1] = replace(forged, hash=entry_hash(forged, b"x" * 32))
    result = verify_chain(chain, KEY)
    assert (result.ok, result.first_bad_seq) == (False, 2)
    assert result.problem is not None
    assert result.problem.startswith("edited")
