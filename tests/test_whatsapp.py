"""WhatsApp (Cloud API): the webhook's checks, the same flows as on Telegram, one
customer across both apps. ``privacy-bot run`` serves it against the fake Cloud API."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from core.app import PrivacyCore
from core.domain.customer import IdentityKind
from core.services import current_consents, find_customer
from tests.fake_whatsapp import VERIFY_TOKEN, FakeWhatsApp
from tests.whatsapp_driver import WhatsAppBot, WhatsAppDriver, hook_whatsapp, webhook_body

UK = "447700900123"  # no language of its own: English
HK = "85291234567"


@pytest.fixture
async def bot(
    core: PrivacyCore, fake_whatsapp: FakeWhatsApp, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[WhatsAppBot]:
    running = WhatsAppBot(core, fake_whatsapp, hook_whatsapp(monkeypatch))
    await running.start()
    try:
        yield running
    finally:
        await running.close()


@pytest.fixture
def alice(bot: WhatsAppBot) -> WhatsAppDriver:
    return WhatsAppDriver(bot, UK)


async def customer_ref(core: PrivacyCore, wa_id: str = UK) -> str:
    async with core.uow() as uow:
        found = await find_customer(IdentityKind.WHATSAPP, wa_id, uow)
    assert found is not None
    return found.ref


def texts(chat: WhatsAppDriver) -> str:
    return "\n".join(m.text for m in chat.messages)


# --- the webhook --------------------------------------------------------------------------


async def test_meta_verification_gets_the_challenge_back(bot: WhatsAppBot) -> None:
    assert bot.http is not None
    query = {
        "hub.mode": "subscribe",
        "hub.verify_token": VERIFY_TOKEN,
        "hub.challenge": "1158201444",
    }
    async with bot.http.get(bot.url("/whatsapp/webhook"), params=query) as response:
        assert (response.status, await response.text()) == (200, "1158201444")


async def test_a_wrong_verify_token_is_403(bot: WhatsAppBot) -> None:
    assert bot.http is not None
    query = {"hub.mode": "subscribe", "hub.verify_token": "guess", "hub.challenge": "1"}
    async with bot.http.get(bot.url("/whatsapp/webhook"), params=query) as response:
        assert response.status == 403


async def test_a_post_with_a_bad_signature_is_401_and_nothing_is_done(
    bot: WhatsAppBot, core: PrivacyCore
) -> None:
    body = json.dumps(webhook_body(UK, {"type": "text", "text": {"body": "/start"}})).encode()
    assert await bot.post(body, signature="sha256=" + "0" * 64) == 401
    assert await bot.post(body, signature="") == 401
    assert bot.fake.sent == []
    async with core.uow() as uow:
        assert await find_customer(IdentityKind.WHATSAPP, UK, uow) is None


async def test_a_redelivered_message_is_handled_once(alice: WhatsAppDriver) -> None:
    body = await alice.deliver({"type": "text", "text": {"body": "/start"}})
    answered = len(alice.messages)
    await alice.redeliver(body)
    assert len(alice.messages) == answered


# --- the flows ----------------------------------------------------------------------------------


async def test_start_shows_the_notice_and_a_choice_per_consent_purpose(
    alice: WhatsAppDriver, core: PrivacyCore
) -> None:
    await alice.send("/start")
    assert "Privacy notice" in texts(alice)
    keyboard = alice.messages[-1].labels()
    assert len(keyboard) == len(list(core.policy.consent_purposes()))
    assert all(label.startswith(("☐", "📄")) for label in keyboard)


async def test_a_choice_gives_consent_with_a_receipt(
    alice: WhatsAppDriver, core: PrivacyCore
) -> None:
    await alice.send("/start")
    await alice.press("Offers and news")
    async with core.uow() as uow:
        given = await current_consents(await customer_ref(core), uow)
    assert given["marketing"].given
    assert "Receipt" in alice.messages[-1].text


async def test_a_forged_choice_changes_nothing_and_says_so(
    alice: WhatsAppDriver, core: PrivacyCore
) -> None:
    await alice.send("/start")
    await alice.press_raw("AAAAAAAA|cp|marketing", None)
    assert "expired" in texts(alice)
    async with core.uow() as uow:
        assert await current_consents(await customer_ref(core), uow) == {}


async def test_a_hong_kong_number_reads_traditional_chinese_first(bot: WhatsAppBot) -> None:
    mei = WhatsAppDriver(bot, HK)
    await mei.send("/start")
    assert "私隱" in texts(mei) or "個人資料" in texts(mei)


async def test_asking_in_words_what_the_shop_holds(alice: WhatsAppDriver) -> None:
    await alice.send("/start")
    await alice.send("what data do you have about me?")
    assert "What we hold about you" in texts(alice)


async def test_the_whatsapp_number_is_the_customers_verified_phone(
    alice: WhatsAppDriver, core: PrivacyCore
) -> None:
    await alice.send("/start")
    async with core.uow() as uow:
        by_phone = await find_customer(IdentityKind.PHONE, f"+{UK}", uow)
    assert by_phone is not None
    assert by_phone.ref == await customer_ref(core)
    assert any(i.kind is IdentityKind.PHONE and i.verified for i in by_phone.identities)


async def test_statuses_are_counted_by_status_and_error_code(bot: WhatsAppBot) -> None:
    value: dict[str, Any] = webhook_body(UK, {"type": "text", "text": {"body": "x"}})
    change = value["entry"][0]["changes"][0]["value"]
    del change["messages"]
    change["statuses"] = [
        {"id": "wamid.1", "status": "delivered", "recipient_id": UK},
        {"id": "wamid.2", "status": "failed", "recipient_id": UK, "errors": [{"code": 131047}]},
    ]
    assert await bot.post(json.dumps(value).encode()) == 200
    assert bot.http is not None
    for _ in range(50):
        async with bot.http.get(bot.url("/metrics")) as response:
            metrics = await response.text()
        if "131047" in metrics:
            break
        import asyncio

        await asyncio.sleep(0.02)
    assert 'privacy_whatsapp_statuses_total{code="131047",status="failed"} 1' in metrics
