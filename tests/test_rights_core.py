"""Data rights in the core: legal clocks, rate limits, erasure, corrections, flags, claims."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from bot.background.rights_jobs import RightsJobs
from bot.outbound import Outbound
from core.app import PrivacyCore, open_core
from core.clock import FixedClock
from core.domain.customer import IdentityKind
from core.domain.requests import RequestKind, RequestState
from core.domain.rights import may_ask_to_share_again
from core.domain.rules import check_consent_change, check_may_contact
from core.errors import Conflict, PolicyDenied, RateLimited, RestrictedProcessing
from core.services import verify_audit
from core.services.rights.erasure import RequestErasure, is_suppressed, request_erasure
from core.services.rights.export import RequestExport, request_export
from core.services.rights.processing import (
    ChooseJurisdiction,
    Flag,
    SetFlag,
    choose_jurisdiction,
    set_processing_flag,
)
from core.services.rights.rectification import CorrectField, correct_field
from core.services.rights.requests import OpenRight, open_right
from core.services.rights.verification import ClaimPhone, claim_phone
from core.settings import Settings
from core.storage.tables import PurchaseRow
from tests.followup_support import commit_fails_once, run_steps
from tests.outbound_support import RecordingSender
from tests.rights_helpers import (
    add_purchases,
    approve,
    make_jobs_due,
    phone_customer,
    telegram_customer,
)

ALICE = 7001
ROOT = Path(__file__).resolve().parent.parent


# A Saturday, 10:00 UTC: the clocks must skip weekends where the law counts working days.
RECEIVED = datetime(2026, 1, 31, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("regime", "due_local"),
    [
        ("gdpr", date(2026, 2, 28)),  # 1 month, clamped to the month's end
        ("ccpa", date(2026, 3, 16)),  # 45 days, the day of receipt the first
        ("pipl", date(2026, 2, 27)),  # 15 working days from Monday 2 Feb, past Spring Festival
        ("pdpo", date(2026, 3, 12)),  # 40 days
    ],
)
async def test_due_date_follows_the_regime_the_customer_chose(
    settings: Settings, regime: str, due_local: date
) -> None:
    core = await open_core(settings, clock=FixedClock(RECEIVED))
    try:
        ref = await telegram_customer(core, ALICE)
        async with core.uow() as uow:
            await choose_jurisdiction(ChooseJurisdiction(ref, regime), uow)
            await uow.commit()
        async with core.uow() as uow:
            request = await open_right(OpenRight(ref, RequestKind.ACCESS), uow)
            await uow.commit()
        zone = ZoneInfo(core.policy.jurisdiction(regime).timezone)
        assert request.jurisdiction == regime
        assert request.due_at.astimezone(zone).date() == due_local
    finally:
        await core.close()


async def test_a_new_request_is_acknowledged_at_receipt(core: PrivacyCore) -> None:
    ref = await telegram_customer(core, ALICE)
    async with core.uow() as uow:
        request = await open_right(OpenRight(ref, RequestKind.ACCESS), uow)
        await uow.commit()
    from core.storage.tables import DataRequestRow

    async with core.uow() as uow:
        acknowledged = await uow.session.scalar(
            select(DataRequestRow.acknowledged_at).where(DataRequestRow.ref == request.ref)
        )
    assert acknowledged == request.received_at


async def test_export_over_the_hourly_limit_is_refused_and_audited(core: PrivacyCore) -> None:
    ref = await telegram_customer(core, ALICE)
    for _ in range(core.policy.export_rate_limit):
        async with core.uow() as uow:
            await request_export(RequestExport(ref), uow)
            await uow.commit()
    with pytest.raises(RateLimited):
        async with core.uow() as uow:
            await request_export(RequestExport(ref), uow)
    async with core.uow() as uow:
        entries = await uow.audit.about(ref)
        assert (await verify_audit(uow)).ok
    denied = [e for e in entries if e.outcome == "denied"]
    assert [e.details["reason"] for e in denied] == ["rate_limited"]


async def test_a_second_erasure_request_finds_the_open_one(core: PrivacyCore) -> None:
    ref = await telegram_customer(core, ALICE)
    async with core.uow() as uow:
        first, new_first = await request_erasure(RequestErasure(ref), uow)
        await uow.commit()
    async with core.uow() as uow:
        second, new_second = await request_erasure(RequestErasure(ref), uow)
        await uow.commit()
    assert (new_first, new_second) == (True, False)
    assert second.ref == first.ref
    async with core.uow() as uow:
        assert await uow.jobs.count("erasure", "pending") == 1


async def test_erasure_waits_for_approval_then_confirms_shreds_and_deletes(
    core: PrivacyCore,
) -> None:
    ref = await telegram_customer(core, ALICE, name="Alice Wong", email="alice@example.com")
    await add_purchases(core, ref, ["A-1", "A-2"])
    async with core.uow() as uow:
        request, _ = await request_erasure(RequestErasure(ref), uow)
        await uow.commit()
    sender = RecordingSender()
    jobs = RightsJobs(core, Outbound(sender), None)
    assert request.state is RequestState.RECEIVED  # the default policy asks staff first
    await jobs.run_due(("erasure",))
    async with core.uow() as uow:
        assert await uow.customers.exists(ref)
    await approve(core, request.ref)
    await make_jobs_due(core)
    await jobs.run_due(("erasure",))
    assert [chat for chat, _ in sender.texts] == [ALICE]
    async with core.uow() as uow:
        assert not await uow.customers.exists(ref)
        assert not await uow.keys.exists(ref)
        kept = list(
            await uow.session.execute(
                select(
                    PurchaseRow.order_id, PurchaseRow.customer_ref, PurchaseRow.items_enc
                ).order_by(PurchaseRow.order_id)
            )
        )
        done = await uow.requests.get(request.ref)
        assert (await verify_audit(uow)).ok
    assert [tuple(p) for p in kept] == [
        ("A-1", None, None),
        ("A-2", None, None),
    ]
    assert done.state is RequestState.COMPLETED


async def test_erased_contacts_are_suppressed(core: PrivacyCore) -> None:
    ref = await telegram_customer(core, ALICE, email="alice@example.com")
    async with core.uow() as uow:
        await claim_phone(ClaimPhone(ref, "+852 9123 4567", ALICE, ALICE), uow)
        await uow.commit()
    async with core.uow() as uow:
        request, _ = await request_erasure(RequestErasure(ref), uow)
        await uow.commit()
    await approve(core, request.ref)
    await make_jobs_due(core)
    await RightsJobs(core, None, None).run_due(("erasure",))
    async with core.uow() as uow:
        assert await is_suppressed(IdentityKind.PHONE, "91234567", uow)
        assert await is_suppressed(IdentityKind.EMAIL, "Alice@Example.com", uow)
        assert await is_suppressed(IdentityKind.TELEGRAM, str(ALICE), uow)
        assert not await is_suppressed(IdentityKind.PHONE, "+852 9999 0000", uow)


_KILL_SCRIPT = """
import asyncio, os, signal, sys
from pathlib import Path
import bot.background.rights_jobs as rj
import core.services.rights.erasure as erasure
from core.app import open_core
from core.settings import Settings

async def main():
    core = await open_core(
        Settings(Path(sys.argv[1]), sys.argv[2], None, None, keystore_url=sys.argv[3])
    )
    async def killed(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)  # kill -9 between shredding and deleting
    erasure.finish_erasure = killed
    await rj.RightsJobs(core, None, None, worker="doomed").run_due(("erasure",))

asyncio.run(main())
"""


async def test_kill_9_during_erasure_then_restart_finishes_it(
    core: PrivacyCore, settings: Settings
) -> None:
    ref = await telegram_customer(core, ALICE, name="Alice Wong")
    await add_purchases(core, ref, ["K-1"])
    async with core.uow() as uow:
        request, _ = await request_erasure(RequestErasure(ref), uow)
        await uow.commit()
    await approve(core, request.ref)
    await make_jobs_due(core)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _KILL_SCRIPT,
        str(settings.data_dir),
        settings.database_url,
        settings.key_store_url(),
        cwd=str(ROOT),
    )
    assert await process.wait() == -9
    async with core.uow() as uow:
        assert not await uow.keys.exists(ref)  # shredded ...
        assert await uow.customers.exists(ref)  # ... but not yet deleted
    later = FixedClock(datetime.now(UTC) + timedelta(minutes=5))  # the dead lease expired
    restarted = await open_core(settings, clock=later)
    try:
        assert await RightsJobs(restarted, None, None).run_due(("erasure",)) == 1
    finally:
        await restarted.close()
    async with core.uow() as uow:
        assert not await uow.customers.exists(ref)
        assert (await uow.requests.get(request.ref)).state is RequestState.COMPLETED
        assert (await verify_audit(uow)).ok


async def test_a_correction_waits_for_approval_then_applies(core: PrivacyCore) -> None:
    ref = await telegram_customer(core, ALICE, email="old@example.com")
    async with core.uow() as uow:
        request, applied = await correct_field(CorrectField(ref, "email", "New@Example.com"), uow)
        await uow.commit()
    assert not applied
    async with core.uow() as uow:
        assert (await uow.customers.get(ref)).email == "old@example.com"
    await approve(core, request.ref)
    await RightsJobs(core, None, None).run_due(("rectify",))
    async with core.uow() as uow:
        customer = await uow.customers.get(ref)
        found = await uow.customers.find(IdentityKind.EMAIL, "new@example.com")
        done = await uow.requests.get(request.ref)
    assert customer.email == "new@example.com"
    assert found is not None
    assert found.ref == ref
    assert done.state is RequestState.COMPLETED


async def test_a_phone_from_someone_elses_contact_is_refused_and_audited(
    core: PrivacyCore,
) -> None:
    ref = await telegram_customer(core, ALICE)
    with pytest.raises(PolicyDenied) as refused:
        async with core.uow() as uow:
            await correct_field(
                CorrectField(ref, "phone", "+85291234567", sender_id=ALICE, contact_user_id=42),
                uow,
            )
    assert refused.value.code == "contact_not_yours"
    async with core.uow() as uow:
        denied = [e for e in await uow.audit.about(ref) if e.outcome == "denied"]
    assert denied[-1].details == {"reason": "contact_not_yours"}


async def test_objection_to_marketing_blocks_marketing_consent_and_contact(
    core: PrivacyCore,
) -> None:
    ref = await telegram_customer(core, ALICE)
    async with core.uow() as uow:
        customer, request = await set_processing_flag(
            SetFlag(ref, Flag.OBJECT_MARKETING, True), uow
        )
        await uow.commit()
    assert request.kind is RequestKind.OBJECTION
    assert request.state is RequestState.COMPLETED
    with pytest.raises(RestrictedProcessing):
        check_consent_change(core.policy, customer, "marketing", give=True, now=RECEIVED)
    with pytest.raises(RestrictedProcessing):
        check_may_contact(core.policy, customer, "marketing", {})


async def test_restriction_stops_every_contact_until_lifted(core: PrivacyCore) -> None:
    ref = await telegram_customer(core, ALICE)
    async with core.uow() as uow:
        restricted, _ = await set_processing_flag(SetFlag(ref, Flag.RESTRICT, True), uow)
        await uow.commit()
    with pytest.raises(RestrictedProcessing):
        check_may_contact(core.policy, restricted, "follow_up", {})
    async with core.uow() as uow:
        lifted, _ = await set_processing_flag(SetFlag(ref, Flag.RESTRICT, False), uow)
        await uow.commit()
    assert not lifted.flags.restricted


async def test_a_ccpa_opt_out_is_not_reasked_within_twelve_months(core: PrivacyCore) -> None:
    ref = await telegram_customer(core, ALICE)
    async with core.uow() as uow:
        await choose_jurisdiction(ChooseJurisdiction(ref, "ccpa"), uow)
        await uow.commit()
    async with core.uow() as uow:
        customer, _ = await set_processing_flag(SetFlag(ref, Flag.OPT_OUT_SHARING, True), uow)
        await uow.commit()
    opted = customer.flags.opted_out_sharing_at
    assert opted is not None
    assert not may_ask_to_share_again(core.policy, customer, opted + timedelta(days=364))
    assert may_ask_to_share_again(core.policy, customer, opted + timedelta(days=367))


async def test_claiming_a_number_merges_in_store_purchases(core: PrivacyCore) -> None:
    walk_in = await phone_customer(core, "+85291234567")
    await add_purchases(core, walk_in, ["S-1", "S-2", "S-3"], item="Oolong")
    ref = await telegram_customer(core, ALICE)
    async with core.uow() as uow:
        result = await claim_phone(ClaimPhone(ref, "9123 4567", ALICE, ALICE), uow)
        await uow.commit()
    assert (result.linked, result.merged_from, result.purchases) == (True, walk_in, 3)
    async with core.uow() as uow:
        mine = [p async for p in uow.purchases.for_customer(ref)]
        assert not await uow.customers.exists(walk_in)
        assert not await uow.keys.exists(walk_in)
        owner = await uow.customers.find(IdentityKind.PHONE, "+85291234567")
    assert [(p.order_id, p.items[0].name) for p in mine] == [
        ("S-1", "Oolong"),
        ("S-2", "Oolong"),
        ("S-3", "Oolong"),
    ]
    assert owner is not None
    assert owner.ref == ref


async def test_a_number_held_by_another_chat_account_cannot_be_claimed(
    core: PrivacyCore,
) -> None:
    bob = await telegram_customer(core, 7002)
    async with core.uow() as uow:
        await claim_phone(ClaimPhone(bob, "+85291234567", 7002, 7002), uow)
        await uow.commit()
    ref = await telegram_customer(core, ALICE)
    with pytest.raises(Conflict) as refused:
        async with core.uow() as uow:
            await claim_phone(ClaimPhone(ref, "+85291234567", ALICE, ALICE), uow)
    assert refused.value.code == "identity_taken"
    async with core.uow() as uow:
        count = await uow.session.scalar(select(func.count()).select_from(PurchaseRow))
    assert count == 0


async def test_an_erased_customer_who_comes_back_gets_no_follow_up(core: PrivacyCore) -> None:
    from tests.followup_support import customer, freeze, hook_client, jobs, post, purchase_body

    ref = await telegram_customer(core, ALICE, email="alice@example.com")
    async with core.uow() as uow:
        request, _ = await request_erasure(RequestErasure(ref), uow)
        await uow.commit()
    await approve(core, request.ref)
    await make_jobs_due(core)
    await RightsJobs(core, None, None).run_due(("erasure",))
    freeze(core)
    await customer(core, ALICE, follow_up=True)  # a new record, with follow-up consent
    async with hook_client(core) as client:
        status, answer = await post(client, core, purchase_body("B-1", ALICE))
    assert (status, answer["status"]) == (202, "no_consent")
    assert await jobs(core) == []


async def _approved_erasure(core: PrivacyCore) -> tuple[str, str]:
    ref = await telegram_customer(core, ALICE, name="Alice Wong")
    await add_purchases(core, ref, ["E-1"])
    async with core.uow() as uow:
        request, _ = await request_erasure(RequestErasure(ref), uow)
        await uow.commit()
    await approve(core, request.ref)
    await make_jobs_due(core)
    return ref, request.ref


async def test_erasure_whose_step_died_before_its_commit_confirms_once_and_finishes(
    core: PrivacyCore,
) -> None:
    ref, request_ref = await _approved_erasure(core)
    sender = RecordingSender()
    handler = RightsJobs(core, Outbound(sender), None).handlers()["erasure"]
    await run_steps(core, "erasure", commit_fails_once(handler))
    async with core.uow() as uow:
        assert not await uow.keys.exists(ref)  # the shred was committed
    await run_steps(core, "erasure", handler)
    assert [chat for chat, _ in sender.texts] == [ALICE]  # the chat id went with the key
    async with core.uow() as uow:
        assert not await uow.customers.exists(ref)
        assert (await uow.requests.get(request_ref)).state is RequestState.COMPLETED
        assert await uow.jobs.count("erasure", "done") == 1
        assert [e.action for e in await uow.audit.about(ref)].count("erasure.completed") == 1


async def test_an_erasure_step_commits_the_shred_then_the_deletion_and_nothing_else(
    core: PrivacyCore,
) -> None:
    ref, _ = await _approved_erasure(core)
    handler = RightsJobs(core, Outbound(RecordingSender()), None).handlers()["erasure"]
    [step] = await run_steps(core, "erasure", handler)
    assert step.writing == 2  # the shredded key, then the deletion with the completion
    async with core.uow() as uow:
        assert not await uow.customers.exists(ref)


async def _approved_correction(core: PrivacyCore) -> tuple[str, str]:
    ref = await telegram_customer(core, ALICE, email="old@example.com")
    async with core.uow() as uow:
        request, _ = await correct_field(CorrectField(ref, "email", "new@example.com"), uow)
        await uow.commit()
    await approve(core, request.ref)
    return ref, request.ref


async def test_a_correction_whose_step_died_before_its_commit_is_applied_once(
    core: PrivacyCore,
) -> None:
    ref, request_ref = await _approved_correction(core)
    handler = RightsJobs(core, None, None).handlers()["rectify"]
    await run_steps(core, "rectify", commit_fails_once(handler))
    async with core.uow() as uow:
        assert (await uow.customers.get(ref)).email == "old@example.com"  # all rolled back
    await run_steps(core, "rectify", handler)
    async with core.uow() as uow:
        assert (await uow.customers.get(ref)).email == "new@example.com"
        assert (await uow.requests.get(request_ref)).state is RequestState.COMPLETED
        assert await uow.jobs.count("rectify", "done") == 1
        actions = [e.action for e in await uow.audit.about(ref)]
    assert actions.count("rectification.applied") == 1


async def test_a_correction_step_is_one_transaction(core: PrivacyCore) -> None:
    ref, _ = await _approved_correction(core)
    [step] = await run_steps(core, "rectify", RightsJobs(core, None, None).handlers()["rectify"])
    assert step.writing == 1
    async with core.uow() as uow:
        assert (await uow.customers.get(ref)).email == "new@example.com"
