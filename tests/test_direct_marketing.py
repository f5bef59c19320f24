"""Hong Kong's direct-marketing rules (PDPO Part 6A): the marketing purpose names the
kinds of personal data it uses and the classes of marketing subjects, the consent
screen shows them, and every marketing message carries a one-tap opt-out that
takes effect at once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from bot.render.i18n import Translator
from core.app import PrivacyCore, open_core
from core.domain.policy import DEFAULT_POLICY_PATH, PolicyError, load_policy
from core.services import DecideConsent, current_consents, decide_consent
from core.settings import Settings
from tests.chat_drivers import ConsoleDriver
from tests.fake_telegram import FakeTelegram
from tests.followup_support import buy, customer, freeze
from tests.test_followups import buttons, followup_state, press, send_due

ALICE = 7001
KINDS = '["name", "contact_details", "purchase_history", "preferences"]'
en = Translator("en")
hk = Translator("zh_Hant")


def policy_text(**replacements: str) -> str:
    text = DEFAULT_POLICY_PATH.read_text("utf-8")
    for old, new in replacements.items():
        assert old in text
        text = text.replace(old, new)
    return text


@pytest.fixture
async def marketing_core(settings: Settings, tmp_path: Path) -> AsyncIterator[PrivacyCore]:
    """The shop's follow-up is direct marketing (offers after a purchase)."""
    path = tmp_path / "policy.toml"
    path.write_text(
        policy_text(
            **{
                'followup_purpose = "follow_up"': 'followup_purpose = "marketing"',
                'followup_min_interval = "30 days"': 'followup_min_interval = "1 day"',
            }
        ),
        "utf-8",
    )
    opened = await open_core(replace(settings, policy_file=path))
    yield opened
    await opened.close()


async def marketing_customer(core: PrivacyCore) -> str:
    ref = await customer(core, ALICE, follow_up=False)
    async with core.uow() as uow:
        await decide_consent(DecideConsent(ref, "marketing", True), uow)
        await uow.commit()
    return ref


async def test_the_consent_screen_names_the_data_used_and_what_is_marketed(
    core: PrivacyCore,
) -> None:
    chat = ConsoleDriver(core, ALICE)
    await chat.send("/start")
    screen = chat.messages[-1].text
    assert "Uses your: name, contact details, purchase history, preferences" in screen
    assert "Offers about: our shop's products, discounts, member offers and shop events" in screen


async def test_the_consent_screen_names_them_in_hong_kong_chinese(core: PrivacyCore) -> None:
    chat = ConsoleDriver(core, ALICE, "zh-hk")
    await chat.send("/start")
    screen = chat.messages[-1].text
    assert hk("consent.marketing.data", data="姓名、聯絡資料、購物紀錄、喜好") in screen


def test_a_marketing_purpose_that_names_no_data_kinds_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(
        policy_text(**{f"personal_data = {KINDS}\n": ""}),
        "utf-8",
    )
    with pytest.raises(PolicyError, match=r"PDPO s\.35C") as refused:
        load_policy(path)
    assert "purposes.marketing.personal_data" in str(refused.value)


async def test_a_marketing_message_says_so_and_carries_a_one_tap_opt_out(
    marketing_core: PrivacyCore, fake_telegram: FakeTelegram
) -> None:
    clock = freeze(marketing_core)
    await marketing_customer(marketing_core)
    assert await buy(marketing_core, "A-1", ALICE) == "scheduled"
    await send_due(marketing_core, fake_telegram, clock)
    [message] = fake_telegram.messages(ALICE)
    assert "direct marketing" in str(message["text"])
    assert "PDPO s.35F" in str(message["text"])
    markup = message["reply_markup"]
    assert isinstance(markup, dict)
    labels = [b["text"] for row in markup["inline_keyboard"] for b in row]
    assert "🔕 Stop all marketing" in labels


async def test_the_opt_out_takes_effect_at_once_even_for_a_message_already_queued(
    marketing_core: PrivacyCore, fake_telegram: FakeTelegram
) -> None:
    clock = freeze(marketing_core)
    ref = await marketing_customer(marketing_core)
    await buy(marketing_core, "A-1", ALICE)
    await send_due(marketing_core, fake_telegram, clock)
    [first] = fake_telegram.messages(ALICE)
    clock.advance(timedelta(days=2))
    assert await buy(marketing_core, "A-2", ALICE) == "scheduled"  # queued, due in 10 min
    stop = next(d for d in buttons(first) if "|fx|" in d)
    texts = await press(marketing_core, ALICE, stop)
    assert en("followup.marketing_stopped") in texts
    assert any("Receipt" in t for t in texts)
    async with marketing_core.uow() as uow:
        assert not (await current_consents(ref, uow))["marketing"].given
    await send_due(marketing_core, fake_telegram, clock)
    assert len(fake_telegram.messages(ALICE)) == 1  # A-2 never left
    assert await followup_state(marketing_core, "A-2") == "suppressed"


async def test_a_follow_up_that_is_not_marketing_keeps_its_own_stop(
    core: PrivacyCore, fake_telegram: FakeTelegram
) -> None:
    clock = freeze(core)
    await customer(core, ALICE)
    await buy(core, "A-1", ALICE)
    await send_due(core, fake_telegram, clock)
    [message] = fake_telegram.messages(ALICE)
    assert "direct marketing" not in str(message["text"])
