"""An erased customer who comes back: the suppression holds until they give fresh
consent to follow-ups, which lifts it for that purpose, audited, and says so."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bot.render.i18n import Translator
from core.app import PrivacyCore
from core.services import lifts_suppression
from core.services.outreach.followups import followup_denial
from core.storage.tables import AuditEntryRow, FollowupRow
from tests.chat_drivers import ConsoleDriver
from tests.followup_support import buy, customer, freeze, run_steps
from tests.keystore_support import erase
from tests.outbound_support import recording

ALICE = 7001
en = Translator("en")


async def erased_and_back(core: PrivacyCore, *, follow_up: bool) -> str:
    clock = freeze(core)
    await erase(core, await customer(core, ALICE))
    clock.advance(timedelta(days=1))
    return await customer(core, ALICE, follow_up=follow_up)


async def followup_after_purchase(core: PrivacyCore) -> str:
    from bot.background.outreach import send_followup
    from core.services.outreach.followups import FOLLOWUP

    await buy(core, "B-1", ALICE)
    core.clock.advance(timedelta(minutes=11))  # type: ignore[attr-defined]
    outbound, _ = recording()
    await run_steps(core, FOLLOWUP, send_followup, outbound)
    async with core.uow() as uow:
        row = await uow.session.get(FollowupRow, "B-1")
        assert row is not None
        return row.state


async def test_an_erased_customer_who_comes_back_gets_no_follow_up_without_fresh_consent(
    core: PrivacyCore,
) -> None:
    ref = await erased_and_back(core, follow_up=False)
    async with core.uow() as uow:
        assert await followup_denial(await uow.customers.get(ref), uow) == "suppressed"


async def test_fresh_consent_after_an_erasure_lifts_the_suppression_for_follow_ups(
    core: PrivacyCore,
) -> None:
    await erased_and_back(core, follow_up=True)
    assert await followup_after_purchase(core) == "sent"
    async with core.uow() as uow:
        actions = list(await uow.session.scalars(select(AuditEntryRow.action)))
    assert "suppression.lifted" in actions


async def test_consent_to_another_purpose_lifts_nothing(core: PrivacyCore) -> None:
    ref = await erased_and_back(core, follow_up=False)
    async with core.uow() as uow:
        assert not await lifts_suppression(ref, "marketing", uow)
        assert await lifts_suppression(ref, "follow_up", uow)


async def test_the_receipt_says_the_consent_lifts_the_block_an_erasure_left(
    core: PrivacyCore,
) -> None:
    freeze(core)
    await erase(core, await customer(core, ALICE))
    core.clock.advance(timedelta(days=1))  # type: ignore[attr-defined]
    chat = ConsoleDriver(core, ALICE)
    await chat.send("/start")
    await chat.press("☐ Follow-ups after a purchase")
    title = en("purpose.follow_up.title")
    assert en("consent.suppression_lifted", purpose=title) in chat.messages[-1].text
