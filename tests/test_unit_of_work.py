"""The transaction rule: use cases never commit, the entry point commits once.

A refusal is the one thing that lands without the entry point's commit: its
audit entry is written after the refused work is rolled back.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from core.app import PrivacyCore
from core.audit import AuditEntry, VerifyResult
from core.domain.actor import Actor
from core.domain.customer import IdentityKind
from core.errors import PermissionDenied, PolicyDenied
from core.services import (
    ChangeLanguage,
    DecideConsent,
    RegisterCustomer,
    authorise,
    change_language,
    decide_consent,
    find_customer,
    register_customer,
    verify_audit,
)
from core.storage import UnitOfWork

SERVICES = Path(__file__).resolve().parent.parent / "core" / "services"
# Batch drivers: each batch is its own transaction, so a long run is safe to interrupt.
# Erasure commits the shredded key before any row is deleted (crypto-shredding first).
BATCH_DRIVERS = frozenset({"keys.py", "retention.py", "rights/erasure.py"})


class Boom(Exception):
    pass


async def audit_log(core: PrivacyCore) -> list[AuditEntry]:
    async with core.uow() as uow:
        return await uow.audit.tail(100)


async def stored_language(core: PrivacyCore, customer_ref: str) -> str:
    async with core.uow() as uow:
        return (await uow.customers.get(customer_ref)).language


async def ledger_size(core: PrivacyCore, customer_ref: str) -> int:
    async with core.uow() as uow:
        return len(await uow.consents.history(customer_ref))


async def decide_in_one_attempt(uow: UnitOfWork, *commands: DecideConsent) -> None:
    async with uow.attempt():
        for cmd in commands:
            await decide_consent(cmd, uow)


async def entry_point(core: PrivacyCore, *commands: ChangeLanguage | DecideConsent) -> None:
    """Runs the use cases in one unit of work and returns without committing."""
    async with core.uow() as uow:
        for cmd in commands:
            if isinstance(cmd, ChangeLanguage):
                await change_language(cmd, uow)
            else:
                await decide_consent(cmd, uow)


def denials(entries: list[AuditEntry]) -> list[tuple[str, str | None, str | None, str]]:
    return [
        (e.action, e.subject_ref, e.purpose, e.details["reason"])
        for e in entries
        if e.outcome == "denied"
    ]


# --- nothing lands without the entry point's commit ---------------------------------


async def test_a_registration_is_not_persisted_unless_the_entry_point_commits(
    core: PrivacyCore,
) -> None:
    async with core.uow() as uow:
        await register_customer(RegisterCustomer(IdentityKind.TELEGRAM, "555001"), uow)
    async with core.uow() as uow:
        assert await find_customer(IdentityKind.TELEGRAM, "555001", uow) is None
        assert await uow.audit.count() == 0


async def test_a_consent_decision_is_not_persisted_unless_the_entry_point_commits(
    core: PrivacyCore, customer_ref: str
) -> None:
    async with core.uow() as uow:
        await decide_consent(DecideConsent(customer_ref, "marketing", give=True), uow)
    assert await ledger_size(core, customer_ref) == 0
    assert [e.action for e in await audit_log(core)] == ["customer.registered"]


async def test_a_consent_decision_is_persisted_once_the_entry_point_commits(
    core: PrivacyCore, customer_ref: str
) -> None:
    async with core.uow() as uow:
        await decide_consent(DecideConsent(customer_ref, "marketing", give=True), uow)
        await uow.commit()
    assert await ledger_size(core, customer_ref) == 1
    assert [e.action for e in await audit_log(core)] == ["customer.registered", "consent.given"]


async def test_several_use_cases_land_together_in_the_entry_points_one_commit(
    core: PrivacyCore, customer_ref: str
) -> None:
    async with core.uow() as uow:
        await change_language(ChangeLanguage(customer_ref, "zh_Hant"), uow)
        await decide_consent(DecideConsent(customer_ref, "marketing", give=True), uow)
        await uow.commit()
    assert await stored_language(core, customer_ref) == "zh_Hant"
    assert await ledger_size(core, customer_ref) == 1


async def test_work_after_a_commit_on_the_same_unit_of_work_needs_its_own_commit(
    core: PrivacyCore, customer_ref: str
) -> None:
    async with core.uow() as uow:
        await change_language(ChangeLanguage(customer_ref, "zh_Hant"), uow)
        await uow.commit()
        await decide_consent(DecideConsent(customer_ref, "marketing", give=True), uow)
    assert await stored_language(core, customer_ref) == "zh_Hant"
    assert await ledger_size(core, customer_ref) == 0


async def test_an_exception_out_of_the_entry_point_drops_its_uncommitted_work(
    core: PrivacyCore, customer_ref: str
) -> None:
    async def failing_entry_point() -> None:
        async with core.uow() as uow:
            await change_language(ChangeLanguage(customer_ref, "zh_Hant"), uow)
            raise Boom

    with pytest.raises(Boom):
        await failing_entry_point()
    assert await stored_language(core, customer_ref) == "en"
    assert [e.action for e in await audit_log(core)] == ["customer.registered"]


# --- a refusal is audited although nothing was committed ----------------------------


async def test_a_refused_consent_leaves_its_denial_in_the_audit_log_without_a_commit(
    core: PrivacyCore, customer_ref: str
) -> None:
    with pytest.raises(PolicyDenied):
        await entry_point(core, DecideConsent(customer_ref, "service", give=False))
    assert denials(await audit_log(core)) == [
        ("consent.withdrawn", customer_ref, "service", "not_switchable")
    ]


async def test_a_refusal_drops_the_work_done_before_it_in_the_same_unit_of_work(
    core: PrivacyCore, customer_ref: str
) -> None:
    with pytest.raises(PolicyDenied):
        await entry_point(
            core,
            ChangeLanguage(customer_ref, "zh_Hant"),
            DecideConsent(customer_ref, "service", give=False),
        )
    assert await stored_language(core, customer_ref) == "en"
    assert [e.action for e in await audit_log(core)] == [
        "customer.registered",
        "consent.withdrawn",
    ]


async def test_a_staff_permission_denial_is_audited_without_a_commit(core: PrivacyCore) -> None:
    with pytest.raises(PermissionDenied):
        async with core.uow() as uow:
            await authorise(424242, "queue.view", "staff.queue", uow)
    async with core.uow() as uow:  # not staff, not yet a customer: a pseudonym of the account
        actor = Actor("customer", uow.indexer.pseudonym("telegram", "424242"))
    (entry,) = await audit_log(core)
    assert (entry.actor_kind, entry.actor_ref, entry.action, entry.outcome) == (
        actor.kind,
        actor.ref,
        "staff.queue",
        "denied",
    )
    assert entry.details == {"reason": "permission_denied"}


async def test_a_refusal_caught_inside_the_entry_point_is_audited_without_a_commit(
    core: PrivacyCore, customer_ref: str
) -> None:
    async with core.uow() as uow:
        with pytest.raises(PolicyDenied):
            await decide_consent(DecideConsent(customer_ref, "service", give=True), uow)
    assert denials(await audit_log(core)) == [
        ("consent.given", customer_ref, "service", "not_switchable")
    ]


async def test_a_refusal_followed_by_a_commit_is_audited_once(
    core: PrivacyCore, customer_ref: str
) -> None:
    async with core.uow() as uow:
        with pytest.raises(PolicyDenied):
            await decide_consent(DecideConsent(customer_ref, "service", give=True), uow)
        await uow.commit()
    assert len(denials(await audit_log(core))) == 1


# --- uow.attempt(): a refusal undoes only its own part ------------------------------


async def refused_attempt_after_a_language_change(core: PrivacyCore, customer_ref: str) -> None:
    """An entry point: a change, then an attempt that does work and is refused, then commit."""
    async with core.uow() as uow:
        await change_language(ChangeLanguage(customer_ref, "zh_Hant"), uow)
        with pytest.raises(PolicyDenied):
            await decide_in_one_attempt(
                uow,
                DecideConsent(customer_ref, "marketing", give=True),
                DecideConsent(customer_ref, "service", give=False),
            )
        await uow.commit()


async def test_a_refusal_inside_an_attempt_drops_that_attempts_work(
    core: PrivacyCore, customer_ref: str
) -> None:
    await refused_attempt_after_a_language_change(core, customer_ref)
    assert await ledger_size(core, customer_ref) == 0
    assert "consent.given" not in [e.action for e in await audit_log(core)]


async def test_work_before_a_refused_attempt_survives_the_entry_points_commit(
    core: PrivacyCore, customer_ref: str
) -> None:
    await refused_attempt_after_a_language_change(core, customer_ref)
    assert await stored_language(core, customer_ref) == "zh_Hant"


async def test_a_refused_attempts_denial_is_committed_with_the_rest_in_order(
    core: PrivacyCore, customer_ref: str
) -> None:
    await refused_attempt_after_a_language_change(core, customer_ref)
    entries = await audit_log(core)
    assert [(e.action, e.outcome) for e in entries] == [
        ("customer.registered", "ok"),
        ("customer.language", "ok"),
        ("consent.withdrawn", "denied"),
    ]
    async with core.uow() as uow:
        assert await verify_audit(uow) == VerifyResult(True, 3)


async def test_work_after_a_refused_attempt_is_committed_too(
    core: PrivacyCore, customer_ref: str
) -> None:
    async with core.uow() as uow:
        with pytest.raises(PolicyDenied):
            await decide_in_one_attempt(uow, DecideConsent(customer_ref, "service", give=False))
        await decide_consent(DecideConsent(customer_ref, "marketing", give=True), uow)
        await uow.commit()
    assert await ledger_size(core, customer_ref) == 1
    assert [(e.action, e.outcome) for e in await audit_log(core)] == [
        ("customer.registered", "ok"),
        ("consent.withdrawn", "denied"),
        ("consent.given", "ok"),
    ]


async def test_a_denial_survives_a_commit_that_fails(
    core: PrivacyCore, customer_ref: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The entry point's commit fails (a lost connection, a serialisation failure):
    its work is gone, the refusal it had met must still be provable."""
    async with core.uow() as uow:
        with pytest.raises(PolicyDenied):
            await decide_consent(DecideConsent(customer_ref, "service", give=False), uow)
        await change_language(ChangeLanguage(customer_ref, "zh_Hant"), uow)

        async def failing_commit() -> None:
            raise Boom

        with monkeypatch.context() as patch:
            patch.setattr(uow.session, "commit", failing_commit)
            with pytest.raises(Boom):
                await uow.commit()
    assert await stored_language(core, customer_ref) == "en"
    assert denials(await audit_log(core)) == [
        ("consent.withdrawn", customer_ref, "service", "not_switchable")
    ]


async def test_a_refused_attempts_denial_survives_a_failure_before_the_commit(
    core: PrivacyCore, customer_ref: str
) -> None:
    """The turn answers the refusal, then fails (saving its state, say) before committing:
    the refused work and the turn's are gone, the refusal must still be provable."""

    async def turn_failing_after_a_refused_attempt() -> None:
        async with core.uow() as uow:
            with pytest.raises(PolicyDenied):
                await decide_in_one_attempt(uow, DecideConsent(customer_ref, "service", give=False))
            raise Boom

    with pytest.raises(Boom):
        await turn_failing_after_a_refused_attempt()
    assert denials(await audit_log(core)) == [
        ("consent.withdrawn", customer_ref, "service", "not_switchable")
    ]


# --- services never commit ----------------------------------------------------------


def commit_calls(path: Path) -> list[int]:
    """Lines of ``….commit(...)`` / ``commit(...)`` calls (docstrings and comments aside)."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name == "commit":
                lines.append(node.lineno)
    return lines


def test_no_use_case_commits_except_the_batch_drivers() -> None:
    committing = {
        str(path.relative_to(SERVICES)): lines
        for path in sorted(SERVICES.rglob("*.py"))
        if (lines := commit_calls(path))
    }
    for driver in BATCH_DRIVERS:
        committing.pop(driver, None)
    assert committing == {}, f"use cases that commit (file: lines): {committing}"


def test_the_batch_drivers_named_as_exceptions_still_commit_per_batch() -> None:
    # Keeps the exception list honest: a driver that stopped committing leaves it.
    for driver in BATCH_DRIVERS:
        assert commit_calls(SERVICES / driver), driver
