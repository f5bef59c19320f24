"""One meaning of "consent in force": given, under the notice now in force."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from core.app import PrivacyCore
from core.domain.consent import (
    ConsentDecision,
    ConsentEntry,
    ConsentStanding,
    consent_in_force,
    consent_standing,
)
from core.domain.rules import check_may_contact
from core.errors import ConsentRequired
from core.services import audit_tail, current_consents
from core.services.outreach.followups import followup_denial
from tests.chat_drivers import Driver
from tests.chat_fixtures import MakeChat, chat_customer
from tests.followup_support import buy, customer, freeze

AT = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)


def _entry(decision: ConsentDecision, notice: str = "2026-11") -> ConsentEntry:
    return ConsentEntry("e1", "c1", "follow_up", decision, notice, "telegram", AT)


def _new_notice(core: PrivacyCore) -> None:
    core.policy = replace(core.policy, notice_version="2027-01")


@pytest.mark.parametrize(
    ("entry", "standing"),
    [
        (None, ConsentStanding.NEVER),
        (_entry(ConsentDecision.WITHDRAWN), ConsentStanding.WITHDRAWN),
        (_entry(ConsentDecision.GIVEN), ConsentStanding.IN_FORCE),
        (_entry(ConsentDecision.GIVEN, "2025-01"), ConsentStanding.STALE),
    ],
)
def test_consent_is_in_force_only_if_given_under_the_notice_in_force(
    entry: ConsentEntry | None, standing: ConsentStanding
) -> None:
    assert consent_standing(entry, "2026-11") is standing
    assert consent_in_force(entry, "2026-11") is (standing is ConsentStanding.IN_FORCE)


def test_the_ledgers_raw_given_is_not_in_force_under_a_newer_notice() -> None:
    stale = _entry(ConsentDecision.GIVEN, "2025-01")
    assert stale.given  # what the ledger says (the receipt, the export, "stop")
    assert not stale.in_force("2026-11")  # what the shop may rely on


async def test_consent_given_under_an_older_notice_is_not_in_force_for_sending_a_follow_up(
    core: PrivacyCore,
) -> None:
    freeze(core)
    await customer(core, 7101)
    _new_notice(core)
    assert await buy(core, "S-1", 7101) == "no_consent"
    async with core.uow() as uow:
        [denied] = [e for e in await audit_tail(50, uow) if e.action == "followup.suppressed"]
    assert denied.details["reason"] == "stale_notice"


async def test_consent_given_under_an_older_notice_is_refused_by_the_contact_rule(
    core: PrivacyCore,
) -> None:
    freeze(core)
    ref = await customer(core, 7102)
    _new_notice(core)
    async with core.uow() as uow:
        person = await uow.customers.get(ref)
        current = await uow.consents.current(ref)
        assert await followup_denial(person, uow) == "stale_notice"
        with pytest.raises(ConsentRequired) as refused:
            check_may_contact(uow.policy, person, "follow_up", current)
    assert refused.value.code == "stale_notice"


async def test_consent_given_under_an_older_notice_shows_as_asked_again_in_privacy(
    make_chat: MakeChat, core: PrivacyCore
) -> None:
    chat: Driver = await make_chat(7103)
    await chat.send("/start")
    await chat.press("Offers and news")
    _new_notice(core)
    await chat.send("/privacy")
    screen = chat.messages[-1]
    assert "earlier privacy notice" in screen.text  # "please confirm again"
    assert all(label.startswith(("☐", "📄")) for label in screen.labels())
    await chat.press("Offers and news")  # asked again: one tap gives it under the new notice
    keyboard = next(  # the consent screen, before the receipt
        m for m in reversed(chat.messages) if any(x.startswith(("☐", "☑")) for x in m.labels())
    )
    assert any(label.startswith("☑ Offers") for label in keyboard.labels())
    async with core.uow() as uow:
        person = await chat_customer(7103, uow)
        assert person is not None
        entry = (await current_consents(person.ref, uow))["marketing"]
    assert entry.in_force("2027-01")
