"""PIPL separate consents (单独同意): a purpose marked provision, sensitive or
cross-border is asked on its own screen with what the law says the customer must be
told, gets its own ledger entry, is never given from the shared keyboard, and saying
no blocks nothing (Art. 16)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.render.i18n import Translator
from core.app import PrivacyCore, open_core
from core.domain.policy import DEFAULT_POLICY_PATH, PolicyError, SeparateConsent, load_policy
from core.errors import PolicyDenied
from core.services import DecideConsent, decide_consent
from core.settings import Settings
from core.storage.tables import AuditEntryRow, ConsentRow
from tests.chat_drivers import ConsoleDriver
from tests.rights_helpers import telegram_customer

ALICE = 6301
en = Translator("en")
zh = Translator("zh_Hans")
SHARING = "📄 Sharing with partners: read and decide"

OVERSEAS = """
[purposes.overseas_delivery]
consent_based = true
categories = ["identity", "contact", "transaction"]
title_key = "purpose.overseas_delivery.title"
description_key = "purpose.overseas_delivery.description"
separate_consent = "cross_border"

[purposes.overseas_delivery.recipient]
name = "Harbour Logistics Pte Ltd"
contact = "dpo@harbour.example"
country = "Singapore"

[purposes.skin_profile]
consent_based = true
categories = ["preference"]
title_key = "purpose.skin_profile.title"
description_key = "purpose.skin_profile.description"
separate_consent = "sensitive"
"""


def with_purposes(tmp_path: Path, extra: str) -> Path:
    path = tmp_path / "policy.toml"
    path.write_text(DEFAULT_POLICY_PATH.read_text("utf-8") + extra, "utf-8")
    return path


@pytest.fixture
async def overseas(settings: Settings, tmp_path: Path) -> AsyncIterator[PrivacyCore]:
    opened = await open_core(replace(settings, policy_file=with_purposes(tmp_path, OVERSEAS)))
    yield opened
    await opened.close()


async def started(core: PrivacyCore, language: str = "en") -> ConsoleDriver:
    chat = ConsoleDriver(core, ALICE, language)
    await chat.send("/start")
    return chat


@dataclass(frozen=True)
class Entry:
    purpose: str
    decision: str
    separately: str | None
    decided_at: datetime


async def ledger(core: PrivacyCore) -> list[Entry]:
    columns = (ConsentRow.purpose, ConsentRow.decision, ConsentRow.separately)
    async with core.uow() as uow:
        rows = await uow.session.execute(select(*columns, ConsentRow.decided_at))
        return [Entry(*row) for row in rows]


def test_the_shipped_policy_asks_separately_before_sharing_with_partners() -> None:
    [sharing] = [p for p in load_policy().purposes if p.sharing]
    assert sharing.separate is SeparateConsent.PROVISION
    assert sharing.recipient is not None
    assert sharing.recipient.contact


async def test_a_separate_consent_is_not_on_the_shared_keyboard(core: PrivacyCore) -> None:
    chat = await started(core)
    labels = chat.messages[-1].labels()
    assert SHARING in labels
    assert "☐ Sharing with partners" not in labels


async def test_its_own_screen_names_the_recipient_purpose_method_data_and_rights(
    core: PrivacyCore,
) -> None:
    chat = await started(core)
    await chat.press(SHARING)
    screen = chat.messages[-1].text
    for part in (
        "PIPL Art. 23",
        "Recipient: Our partner brands (named in our privacy notice)",
        "privacy@shop.example",
        "What for: sharing your data with partner companies",
        "How they process it:",
        f"Which personal information: {en('rights.category.contact')}, ",
        "Your rights with the recipient:",
        "Saying no changes nothing else",
    ):
        assert part in screen
    assert chat.messages[-1].labels() == ["✔ I agree to this alone", "✖ No, thank you"]


async def test_agreeing_on_its_own_screen_writes_its_own_ledger_entry(core: PrivacyCore) -> None:
    chat = await started(core)
    await chat.press(SHARING)
    await chat.press("✔ I agree to this alone")
    assert en("consent.separate.receipt", article="23") in chat.messages[-1].text
    [entry] = await ledger(core)
    assert (entry.purpose, entry.decision, entry.separately) == (
        "third_party_sharing",
        "given",
        "provision",
    )


async def test_a_forged_press_on_the_shared_keyboard_gives_no_separate_consent(
    core: PrivacyCore,
) -> None:
    chat = await started(core)
    [token] = {data.split("|")[0] for _, data in chat.messages[-1].buttons}
    await chat.press_raw(f"{token}|cs|third_party_sharing:1", chat.messages[-1].id)
    assert "PIPL Art. 23" in chat.messages[-1].text  # shown its own screen instead
    assert await ledger(core) == []


async def test_the_core_refuses_a_bundled_separate_consent_and_audits_it(
    core: PrivacyCore,
) -> None:
    ref = await telegram_customer(core, ALICE)
    async with core.uow() as uow:
        with pytest.raises(PolicyDenied) as refused:
            await decide_consent(DecideConsent(ref, "third_party_sharing", True), uow)
        await uow.commit()
    assert refused.value.code == "separate_consent_required"
    async with core.uow() as uow:
        row = await uow.session.scalar(
            select(AuditEntryRow).where(AuditEntryRow.action == "consent.given")
        )
        assert row is not None
        assert row.outcome == "denied"
    assert await ledger(core) == []


async def test_saying_no_is_recorded_and_blocks_no_service(core: PrivacyCore) -> None:
    chat = await started(core)
    await chat.press(SHARING)
    await chat.press("✖ No, thank you")
    [entry] = await ledger(core)
    assert (entry.decision, entry.separately) == ("withdrawn", "provision")  # refused there
    await chat.press("☐ Offers and news")  # every other purpose still works
    await chat.send("/mydata")
    assert "Sorry" not in chat.messages[-1].text
    await chat.send("/export")
    assert chat.messages[-1].document is not None or "prepar" in chat.messages[-1].text


async def test_a_given_separate_consent_is_withdrawn_with_one_tap_on_privacy(
    core: PrivacyCore,
) -> None:
    chat = await started(core)
    await chat.press(SHARING)
    await chat.press("✔ I agree to this alone")
    await chat.send("/privacy")
    await chat.press("☑ Sharing with partners")
    decisions = [e.decision for e in sorted(await ledger(core), key=lambda e: e.decided_at)]
    assert decisions == ["given", "withdrawn"]


async def test_a_cross_border_screen_says_where_the_data_goes(overseas: PrivacyCore) -> None:
    chat = await started(overseas)
    label = next(x for x in chat.messages[-1].labels() if "overseas_delivery" in x)
    await chat.press(label)
    screen = chat.messages[-1].text
    for part in (
        "PIPL Art. 39",
        "Harbour Logistics Pte Ltd",
        "dpo@harbour.example",
        "Where the recipient is: Singapore",
        "Which personal information: "
        + ", ".join(en(f"rights.category.{c}") for c in ("identity", "contact", "transaction")),
    ):
        assert part in screen


async def test_a_sensitive_data_screen_says_why_it_is_needed(overseas: PrivacyCore) -> None:
    chat = await started(overseas, "zh_Hans")
    label = next(x for x in chat.messages[-1].labels() if "skin_profile" in x)
    await chat.press(label)
    screen = chat.messages[-1].text
    assert "《个人信息保护法》第二十九条" in screen
    assert "处理的必要性及对您权益的影响" in screen


async def test_each_separate_consent_gets_its_own_entry(overseas: PrivacyCore) -> None:
    chat = await started(overseas)
    for purpose in ("overseas_delivery", "skin_profile"):
        label = next(x for x in chat.messages[-1].labels() if purpose in x)
        await chat.press(label)
        await chat.press("✔ I agree to this alone")
        await chat.send("/privacy")
    kinds = sorted((e.purpose, e.separately) for e in await ledger(overseas))
    assert kinds == [("overseas_delivery", "cross_border"), ("skin_profile", "sensitive")]
    async with overseas.uow() as uow:
        details = (
            await uow.session.scalars(
                select(AuditEntryRow.details).where(AuditEntryRow.action == "consent.given")
            )
        ).all()
    assert sorted(json.loads(d)["separately"] for d in details) == ["cross_border", "sensitive"]


def test_a_cross_border_purpose_without_a_country_is_refused(tmp_path: Path) -> None:
    path = with_purposes(tmp_path, OVERSEAS.replace('country = "Singapore"\n', ""))
    with pytest.raises(PolicyError, match=r"recipient\.country"):
        load_policy(path)


def test_a_provision_purpose_without_a_recipient_is_refused(tmp_path: Path) -> None:
    text = DEFAULT_POLICY_PATH.read_text("utf-8")
    start = text.index("[purposes.third_party_sharing.recipient]")
    end = text.index('contact = "privacy@shop.example"') + len('contact = "privacy@shop.example"')
    path = tmp_path / "policy.toml"
    path.write_text(text[:start] + text[end:], "utf-8")
    with pytest.raises(PolicyError, match="must name the recipient"):
        load_policy(path)
