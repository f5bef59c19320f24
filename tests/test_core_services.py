"""Services: refusals are audited, failed transactions leave nothing, concurrent ones queue."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from core.app import PrivacyCore
from core.audit import VerifyResult
from core.domain.consent import ConsentDecision, ConsentEntry
from core.domain.customer import Customer, IdentityKind
from core.errors import NotFound, PolicyDenied, PrivacyError
from core.ids import new_ref
from core.services import (
    DecideConsent,
    RegisterCustomer,
    customer_actor,
    decide_consent,
    register_customer,
    verify_audit,
)
from core.storage.repositories import AuditRepository
from core.storage.tables import AuditEntryRow, ConsentRow, CustomerRow


class Boom(Exception):
    pass


async def count(core: PrivacyCore, table: type[object]) -> int:
    async with core.uow() as uow:
        return int(await uow.session.scalar(select(func.count()).select_from(table)) or 0)


async def last_audit(core: PrivacyCore) -> tuple[str, str, str | None, str | None, str]:
    async with core.uow() as uow:
        (entry,) = await uow.audit.tail(1)
    return entry.action, entry.outcome, entry.subject_ref, entry.purpose, entry.details["reason"]


async def test_consent_for_a_non_consent_purpose_is_denied(
    core: PrivacyCore, customer_ref: str
) -> None:
    async with core.uow() as uow:
        with pytest.raises(PolicyDenied) as caught:
            await decide_consent(DecideConsent(customer_ref, "service", give=False), uow)
    assert caught.value.code == "not_switchable"


async def test_a_denied_consent_is_audited_as_denied(core: PrivacyCore, customer_ref: str) -> None:
    async with core.uow() as uow:
        with pytest.raises(PolicyDenied):
            await decide_consent(DecideConsent(customer_ref, "service", give=False), uow)
    assert await last_audit(core) == (
        "consent.withdrawn",
        "denied",
        customer_ref,
        "service",
        "not_switchable",
    )


async def test_a_denied_consent_leaves_no_ledger_entry(
    core: PrivacyCore, customer_ref: str
) -> None:
    async with core.uow() as uow:
        with pytest.raises(PolicyDenied):
            await decide_consent(DecideConsent(customer_ref, "service", give=True), uow)
    assert await count(core, ConsentRow) == 0


async def test_consent_for_an_unknown_purpose_is_refused_and_audited(
    core: PrivacyCore, customer_ref: str
) -> None:
    async with core.uow() as uow:
        with pytest.raises(PrivacyError) as caught:
            await decide_consent(DecideConsent(customer_ref, "spam", give=True), uow)
    assert isinstance(caught.value, NotFound)
    assert await last_audit(core) == (
        "consent.given",
        "denied",
        customer_ref,
        "spam",
        caught.value.code,
    )
    assert await count(core, ConsentRow) == 0


async def test_the_audit_chain_verifies_after_a_denial(
    core: PrivacyCore, customer_ref: str
) -> None:
    async with core.uow() as uow:
        with pytest.raises(PolicyDenied):
            await decide_consent(DecideConsent(customer_ref, "service", give=True), uow)
    async with core.uow() as uow:
        await decide_consent(DecideConsent(customer_ref, "marketing", give=True), uow)
        await uow.commit()
    async with core.uow() as uow:
        assert await verify_audit(uow) == VerifyResult(True, 3)


async def consent_then_fail(core: PrivacyCore, customer_ref: str) -> None:
    """What a service does (change, then audit), failing before its commit."""
    async with core.uow() as uow:
        await uow.consents.append(
            ConsentEntry(
                ref=new_ref("r"),
                customer_ref=customer_ref,
                purpose="marketing",
                decision=ConsentDecision.GIVEN,
                notice_version=uow.policy.notice_version,
                channel="telegram",
                decided_at=uow.now(),
            )
        )
        await uow.record(
            customer_actor(customer_ref),
            "consent.given",
            subject_ref=customer_ref,
            purpose="marketing",
        )
        raise Boom


async def test_a_failed_transaction_leaves_neither_change_nor_audit(
    core: PrivacyCore, customer_ref: str
) -> None:
    audit_before = await count(core, AuditEntryRow)
    with pytest.raises(Boom):
        await consent_then_fail(core, customer_ref)
    assert await count(core, ConsentRow) == 0
    assert await count(core, AuditEntryRow) == audit_before


async def test_a_change_whose_audit_entry_fails_does_not_land(
    core: PrivacyCore, customer_ref: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken_append(*args: object, **kwargs: object) -> None:
        raise Boom

    monkeypatch.setattr(AuditRepository, "append", broken_append)
    async with core.uow() as uow:
        with pytest.raises(Boom):
            await decide_consent(DecideConsent(customer_ref, "marketing", give=True), uow)
    monkeypatch.undo()
    assert await count(core, ConsentRow) == 0


async def test_the_audit_chain_continues_after_a_failed_transaction(
    core: PrivacyCore, customer_ref: str
) -> None:
    with pytest.raises(Boom):
        await consent_then_fail(core, customer_ref)
    async with core.uow() as uow:
        await decide_consent(DecideConsent(customer_ref, "marketing", give=True), uow)
        await uow.commit()
    async with core.uow() as uow:
        assert await verify_audit(uow) == VerifyResult(True, 2)


async def test_a_unit_of_work_left_without_commit_rolls_back(
    core: PrivacyCore, customer_ref: str
) -> None:
    async with core.uow() as uow:
        customer = await uow.customers.get(customer_ref, lock=True)
        customer.language = "zh_Hant"
        await uow.customers.save(customer)
        await uow.record(customer_actor(customer_ref), "customer.language", subject_ref=None)
    async with core.uow() as uow:
        assert (await uow.customers.get(customer_ref)).language == "en"
        assert await uow.audit.count() == 1


async def test_registering_twice_finds_the_first_customer(core: PrivacyCore) -> None:
    command = RegisterCustomer(IdentityKind.PHONE, "+852 9123 4567")
    async with core.uow() as uow:
        first, created_first = await register_customer(command, uow)
        await uow.commit()
    async with core.uow() as uow:
        second, created_second = await register_customer(
            RegisterCustomer(IdentityKind.PHONE, "9123-4567"), uow
        )
        await uow.commit()
    assert (second.ref, created_first, created_second) == (first.ref, True, False)
    assert await count(core, CustomerRow) == 1


async def test_current_consent_is_the_latest_decision(core: PrivacyCore, customer_ref: str) -> None:
    for give in (True, False, True, False):
        async with core.uow() as uow:
            await decide_consent(DecideConsent(customer_ref, "marketing", give=give), uow)
            await uow.commit()
    async with core.uow() as uow:
        current = await uow.consents.current(customer_ref)
        history = await uow.consents.history(customer_ref)
    assert current["marketing"].decision is ConsentDecision.WITHDRAWN
    assert len(history) == 4


# --- concurrency ------------------------------------------------------------------------


async def test_concurrent_consent_decisions_all_land_and_chain(
    core: PrivacyCore, customer_ref: str
) -> None:
    purposes = ["marketing", "follow_up", "analytics", "personalization"]

    async def decide(i: int) -> ConsentEntry:
        async with core.uow() as uow:
            entry = await decide_consent(
                DecideConsent(customer_ref, purposes[i % 4], give=i % 2 == 0), uow
            )
            await uow.commit()
            return entry

    entries = await asyncio.gather(*(decide(i) for i in range(20)))
    assert len({e.ref for e in entries}) == 20
    async with core.uow() as uow:
        assert len(await uow.consents.history(customer_ref)) == 20
        seqs = list(await uow.session.scalars(select(AuditEntryRow.seq).order_by("seq")))
        assert seqs == list(range(1, 22))
        assert await verify_audit(uow) == VerifyResult(True, 21)


async def test_concurrent_first_contacts_of_one_person_make_one_customer(
    core: PrivacyCore,
) -> None:
    async def first_contact() -> str:
        async with core.uow() as uow:
            customer, _ = await register_customer(
                RegisterCustomer(IdentityKind.TELEGRAM, "9000001"), uow
            )
            await uow.commit()
        return customer.ref

    refs = await asyncio.gather(*(first_contact() for _ in range(5)))
    assert len(set(refs)) == 1
    assert await count(core, CustomerRow) == 1


def test_activity_is_kept_to_the_minute() -> None:
    start = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    customer = Customer(ref="c1", created_at=start, last_active_at=start)
    customer.touch(start + timedelta(seconds=59))
    assert customer.last_active_at == start
    customer.touch(start + timedelta(minutes=1))
    assert customer.last_active_at == start + timedelta(minutes=1)
