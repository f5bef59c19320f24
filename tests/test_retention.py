"""The retention sweep: a dry run shows exactly what the real run removes, provably."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select

from core.app import PrivacyCore
from core.domain.customer import IdentityKind
from core.domain.survey import load_survey
from core.services import (
    RecordAnswer,
    SaveConversation,
    audit_tail,
    record_answer,
    save_conversation,
    verify_audit,
)
from core.services.purchases import RecordPurchase, record_purchase
from core.services.retention import run_retention
from core.storage.tables import CustomerRow, DataKeyRow, PurchaseRow, SurveyAnswerRow
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
    clock.advance(timedelta(days=365 * 4))  # 2026
    async with core.uow() as uow:
        await save_conversation(SaveConversation(stays, {"kb": ["abcdefgh"]}), uow)
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
        assert await uow.session.get(DataKeyRow, refs["gone"]) is None  # shredded
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
