"""The retention sweep: a dry run shows exactly what the real run removes, provably."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select, update

from core.app import PrivacyCore
from core.audit import AuditEntry
from core.domain.customer import IdentityKind
from core.domain.survey import load_survey
from core.services import (
    RecordAnswer,
    SaveConversation,
    audit_tail,
    record_answer,
    retention,
    save_conversation,
    verify_audit,
)
from core.services.outreach.purchases import RecordPurchase, record_purchase
from core.services.retention import run_retention
from core.storage import UnitOfWork
from core.storage.tables import CustomerRow, NonceRow, PurchaseRow, SurveyAnswerRow
from tests.followup_support import count, customer, freeze

START = datetime(2018, 1, 10, 3, 0, tzinfo=UTC)


async def _purchase(core: PrivacyCore, order_id: str, telegram_id: int) -> None:
    cmd = RecordPurchase(
        order_id,
        IdentityKind.TELEGRAM,
        str(telegram_id),
        core.clock.now(),
        Decimal("5"),
        "HKD",
        (),
        timedelta(days=3),
    )
    async with core.uow() as uow:
        await record_purchase(cmd, uow)
        await uow.commit()


async def _history(core: PrivacyCore) -> dict[str, str]:
    """Customers over eight years: one who left, one who keeps coming back."""
    clock = freeze(core, START)
    survey = load_survey()
    gone = await customer(core, 8001)
    await _purchase(core, "OLD-1", 8001)  # 2018: past the 7-year legal hold by 2026
    stays = await customer(core, 8002)
    await _purchase(core, "OLD-2", 8002)  # 2018: past the 7-year hold by 2026
    clock.advance(timedelta(days=365 * 4))  # 2022
    await _purchase(core, "MID-1", 8002)  # pseudonymised by 2026 (over 24 months)
    async with core.uow() as uow:
        await record_answer(RecordAnswer(stays, survey, "frequency", "weekly"), uow)
        await uow.commit()
    clock.advance(timedelta(days=365 * 4))  # 2026
    async with core.uow() as uow:
        await save_conversation(SaveConversation(stays, {"kb": ["abcdefgh"]}), uow)
        await uow.commit()
    await _purchase(core, "NEW-1", 8002)  # recent: stays as it is
    clock.advance(timedelta(days=60))  # conversation state now past its 30 days
    return {"gone": gone, "stays": stays}


async def test_dry_run_equals_the_real_runs_removals(core: PrivacyCore) -> None:
    refs = await _history(core)
    async with core.uow() as uow:
        dry = await run_retention(uow, dry_run=True)
    assert await count(core, CustomerRow) == 2  # the dry run changed nothing
    async with core.uow() as uow:
        real = await run_retention(uow)
    assert dry == real
    subjects = {s.subject: s.counts() for s in real.subjects}
    assert subjects[refs["gone"]]["customer"] == 1
    assert subjects[refs["stays"]] == {
        "preference": 1,
        "transaction_pseudonymised": 1,
        "transaction_deleted": 1,
        "behaviour": 1,
    }


async def test_real_run_removes_the_rows_and_the_audit_still_verifies(core: PrivacyCore) -> None:
    refs = await _history(core)
    async with core.uow() as uow:
        await run_retention(uow)
    async with core.uow() as uow:
        assert not await uow.keys.exists(refs["gone"])  # shredded
        assert await uow.session.get(CustomerRow, refs["gone"]) is None
        purchases = {p.order_id: p for p in await uow.session.scalars(select(PurchaseRow))}
        answers = list(await uow.session.scalars(select(SurveyAnswerRow)))
        entries = await audit_tail(50, uow)
        assert (await verify_audit(uow)).ok
        assert set(purchases) == {"MID-1", "NEW-1"}
        assert purchases["MID-1"].items_enc is None
        assert purchases["MID-1"].customer_ref is None
        assert purchases["NEW-1"].customer_ref == refs["stays"]
    assert answers == []
    removed = [e for e in entries if e.action == "retention.removed"]
    assert sorted(e.subject_ref or "" for e in removed) == sorted(refs.values())


async def test_a_second_run_finds_nothing_more(core: PrivacyCore) -> None:
    await _history(core)
    async with core.uow() as uow:
        await run_retention(uow)
    async with core.uow() as uow:
        again = await run_retention(uow, dry_run=True)
    assert again.subjects == []


async def _invoices(core: PrivacyCore, per_subject: dict[str, int], *, recent: int = 0) -> None:
    """Pseudonymised invoice records (no customer link) from 2015, past the legal hold,
    plus ``recent`` fresh ones per pseudonym; the sweep deletes the old ones."""
    now = core.clock.now()
    async with core.uow() as uow:
        n = 0
        for pseudonym, old in per_subject.items():
            for k in range(old + recent):
                at = datetime(2015, 1, 1, tzinfo=UTC) if k < old else now - timedelta(days=3)
                n += 1
                uow.session.add(
                    PurchaseRow(
                        order_id=f"INV-{n}",
                        customer_ref=None,
                        pseudonym=pseudonym,
                        purchased_at=at,
                        total="1",
                        currency="HKD",
                        items_enc=None,
                        received_at=at,
                    )
                )
        await uow.commit()


async def _removed_entries(core: PrivacyCore) -> list[AuditEntry]:
    async with core.uow() as uow:
        return [e for e in await audit_tail(500, uow) if e.action == "retention.removed"]


async def test_batches_each_audit_their_subjects_and_match_the_dry_run(
    core: PrivacyCore, monkeypatch: pytest.MonkeyPatch
) -> None:
    freeze(core, START + timedelta(days=365 * 8))
    subjects = {f"{n:032x}": n + 1 for n in range(5)}  # 1..5 old invoices each
    await _invoices(core, subjects, recent=2)
    monkeypatch.setattr(retention, "_BATCH", 2)
    monkeypatch.setattr(retention, "_BATCH_ROWS", 6)  # rows bound a batch too
    async with core.uow() as uow:
        dry = await run_retention(uow, dry_run=True)
    seen: list[tuple[int, int]] = []
    async with core.uow() as uow:
        real = await run_retention(uow, progress=lambda done, total: seen.append((done, total)))
    assert dry == real
    assert seen == [(2, 5), (3, 5), (4, 5), (5, 5)]  # 1+2 | 3 | 4 | 5 old invoices
    assert real.totals() == {"transaction_deleted": sum(subjects.values())}
    assert await count(core, PurchaseRow) == 2 * len(subjects)  # the recent ones stay
    entries = await _removed_entries(core)
    assert {e.subject_ref: e.details for e in entries} == {
        s: {"transaction_deleted": n} for s, n in subjects.items()
    }
    assert len(entries) == len(subjects)  # once each
    async with core.uow() as uow:
        assert (await verify_audit(uow)).ok


async def test_a_customer_and_their_own_pseudonym_are_separate_subjects(core: PrivacyCore) -> None:
    refs = await _history(core)
    async with core.uow() as uow:
        pseudonym = uow.indexer.pseudonym("purchase", refs["stays"])
    await _invoices(core, {pseudonym: 2})  # unlinked invoices under the customer's pseudonym
    async with core.uow() as uow:
        dry = await run_retention(uow, dry_run=True)
    async with core.uow() as uow:
        real = await run_retention(uow)
    assert dry == real
    subjects = {s.subject: s.counts() for s in real.subjects}
    assert subjects[pseudonym] == {"transaction_deleted": 2}
    assert subjects[refs["stays"]]["transaction_deleted"] == 1  # OLD-2, still linked
    async with core.uow() as uow:
        left = set(await uow.session.scalars(select(PurchaseRow.order_id)))
    assert left == {"MID-1", "NEW-1"}


async def test_rows_fresh_again_after_planning_stay_and_are_not_audited(
    core: PrivacyCore, monkeypatch: pytest.MonkeyPatch
) -> None:
    refs = await _history(core)
    planned = retention.plan_retention

    async def plan_then_they_come_back(uow: UnitOfWork) -> retention.RetentionPlan:
        plan = await planned(uow)
        now = uow.now()
        # Between planning and removing: the leaving customer is active again, and
        # the staying one answers the survey again.
        await uow.session.execute(
            update(CustomerRow).where(CustomerRow.ref == refs["gone"]).values(last_active_at=now)
        )
        await uow.session.execute(
            update(SurveyAnswerRow)
            .where(SurveyAnswerRow.customer_ref == refs["stays"])
            .values(answered_at=now)
        )
        return plan

    monkeypatch.setattr(retention, "plan_retention", plan_then_they_come_back)
    async with core.uow() as uow:
        real = await run_retention(uow)
    subjects = {s.subject: s.counts() for s in real.subjects}
    # The customer who came back stays (key too); only what is past retention goes.
    assert subjects[refs["gone"]] == {"transaction_deleted": 1}
    assert subjects[refs["stays"]] == {
        "transaction_pseudonymised": 1,
        "transaction_deleted": 1,
        "behaviour": 1,
    }
    async with core.uow() as uow:
        assert await uow.session.get(CustomerRow, refs["gone"]) is not None
        assert await uow.keys.exists(refs["gone"])
        orders = set(await uow.session.scalars(select(PurchaseRow.order_id)))
    assert orders == {"MID-1", "NEW-1"}  # OLD-1 (past the hold) went all the same
    assert await count(core, SurveyAnswerRow) == 1
    entries = await _removed_entries(core)
    assert {e.subject_ref: e.details for e in entries} == subjects


async def test_housekeeping_counts_match_the_dry_run(core: PrivacyCore) -> None:
    clock = freeze(core)
    async with core.uow() as uow:
        uow.session.add(NonceRow(digest="a" * 64, seen_at=clock.now() - timedelta(hours=1)))
        uow.session.add(NonceRow(digest="b" * 64, seen_at=clock.now()))
        await uow.commit()
    async with core.uow() as uow:
        dry = await run_retention(uow, dry_run=True)
    async with core.uow() as uow:
        real = await run_retention(uow)
    assert dry == real
    assert real.totals() == {"signatures": 1}
    assert await count(core, NonceRow) == 1


# --- request records: kept 24 months after they close (11 CCR §7101) -------------------


async def _closed_request(core: PrivacyCore, telegram_id: int) -> str:
    from core.domain.requests import RequestKind
    from core.services import OpenRequest, open_request
    from core.services.rights.requests import complete_request

    ref = await customer(core, telegram_id)
    async with core.uow() as uow:
        request = await open_request(OpenRequest(ref, RequestKind.ACCESS), uow)
        await complete_request(request, uow, notify=False)
        await uow.commit()
    return request.ref


async def _request_exists(core: PrivacyCore, ref: str) -> bool:
    from core.storage.tables import DataRequestRow

    async with core.uow() as uow:
        return await uow.session.get(DataRequestRow, ref) is not None


async def test_a_closed_request_record_is_kept_24_months_as_proof(core: PrivacyCore) -> None:
    clock = freeze(core, START)
    ref = await _closed_request(core, 8101)
    clock.advance(timedelta(days=365 * 2 - 10))  # not yet 24 months
    async with core.uow() as uow:
        await run_retention(uow)
    assert await _request_exists(core, ref)


async def test_a_request_record_closed_over_24_months_ago_is_removed_and_audited(
    core: PrivacyCore,
) -> None:
    clock = freeze(core, START)
    ref = await _closed_request(core, 8101)
    clock.advance(timedelta(days=365 * 2 + 5))
    async with core.uow() as uow:
        plan = await run_retention(uow, dry_run=True)
    assert plan.totals().get("requests") == 1
    async with core.uow() as uow:
        done = await run_retention(uow)
    assert done.totals().get("requests") == 1
    assert not await _request_exists(core, ref)


async def test_an_open_request_record_is_never_removed(core: PrivacyCore) -> None:
    from core.domain.requests import RequestKind
    from core.services import OpenRequest, open_request

    clock = freeze(core, START)
    person = await customer(core, 8102)
    async with core.uow() as uow:
        request = await open_request(OpenRequest(person, RequestKind.ERASURE), uow)
        await uow.commit()
    clock.advance(timedelta(days=365 * 3))
    async with core.uow() as uow:
        await run_retention(uow)
    assert await _request_exists(core, request.ref)
