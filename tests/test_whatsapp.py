"""WhatsApp (Cloud API): the webhook's checks, the same flows as on Telegram, one
customer across both apps. ``privacy-bot run`` serves it against the fake Cloud API."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import json
import re
import zipfile
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from aiohttp import ClientSession
from sqlalchemy import select

from bot.channels.whatsapp import messages_for
from bot.conversation.events import Button, Reply
from bot.render.i18n import Translator
from bot.render.stats import stats_text
from bot.settings import BotSettings
from core.app import PrivacyCore
from core.clock import FixedClock
from core.domain.customer import Identity, IdentityKind
from core.domain.policy import WhatsAppRules
from core.domain.purchase import PurchaseItem
from core.services import (
    DecideConsent,
    MarkNoticeSeen,
    RegisterCustomer,
    audit_tail,
    current_consents,
    decide_consent,
    find_customer,
    mark_notice_seen,
    register_customer,
)
from core.services.desk.stats import ViewStats, desk_stats
from core.services.outreach.notices import NotifyCustomer, notify_customer
from core.services.outreach.purchases import PurchaseStatus, RecordPurchase, record_purchase
from core.services.rights.erasure import is_suppressed
from core.services.rights.verification import ClaimPhone, claim_phone
from core.storage.tables import JobRow
from tests.chat_drivers import TelegramDriver, find_button, hook_deliver
from tests.fake_telegram import FakeTelegram
from tests.fake_whatsapp import VERIFY_TOKEN, FakeWhatsApp
from tests.followup_support import freeze
from tests.rights_helpers import approve, make_jobs_due
from tests.whatsapp_driver import WhatsAppBot, WhatsAppDriver, webhook_body

UK = "447700900123"  # no language of its own: English
HK = "85291234567"


@pytest.fixture
async def bot(
    core: PrivacyCore, fake_whatsapp: FakeWhatsApp, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[WhatsAppBot]:
    running = WhatsAppBot(core, fake_whatsapp, hook_deliver(monkeypatch, "whatsapp"))
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
    assert len(keyboard) == len(core.policy.consent_purposes("whatsapp"))
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
        await asyncio.sleep(0.02)
    assert 'privacy_whatsapp_statuses_total{code="131047",status="failed"} 1' in metrics


# --- the same flows as on Telegram ---------------------------------------------------------------


async def opened(chat: WhatsAppDriver) -> WhatsAppDriver:
    await chat.send("/start")
    return chat


async def test_the_survey_goes_question_by_question(alice: WhatsAppDriver) -> None:
    await (await opened(alice)).send("/survey")
    first = alice.messages[-1].text
    await alice.press("Monthly")
    assert alice.messages[-1].text != first
    await alice.press("Back")
    assert "✓ Monthly" in alice.messages[-1].labels()


async def test_the_language_is_chosen_with_a_button(
    alice: WhatsAppDriver, core: PrivacyCore
) -> None:
    await (await opened(alice)).send("/language")
    await alice.press("繁體中文")
    async with core.uow() as uow:
        customer = await uow.customers.get(await customer_ref(core))
    assert customer.language == "zh_Hant"


async def test_a_correction_by_typing_the_new_email(alice: WhatsAppDriver) -> None:
    await (await opened(alice)).send("/correct")
    await alice.press("Email")
    await alice.send("alice@example.com")
    assert "Sorry" not in alice.messages[-1].text
    assert "email" in alice.messages[-1].text.lower()


async def copy_link(alice: WhatsAppDriver, bot: WhatsAppBot, core: PrivacyCore) -> str:
    """/export on WhatsApp, with the shop's public address set: the link it sends."""
    core.settings = dataclasses.replace(core.settings, public_url=bot.url(""))
    await (await opened(alice)).send("/export")
    [link] = re.findall(r"http://\S+/exports/\S+", alice.messages[-1].text)
    return link


async def test_the_copy_comes_as_a_link_that_opens_once(
    alice: WhatsAppDriver, bot: WhatsAppBot, core: PrivacyCore
) -> None:
    link = await copy_link(alice, bot, core)
    assert bot.http is not None
    async with bot.http.get(link) as first:
        assert first.status == 200
        assert first.headers["Cache-Control"] == "no-store"
        names = zipfile.ZipFile(io.BytesIO(await first.read())).namelist()
    assert "data.json" in names
    assert "index.html" in names
    async with bot.http.get(link) as again:
        assert again.status == 410


async def test_a_link_older_than_12_hours_does_not_open(
    alice: WhatsAppDriver, bot: WhatsAppBot, core: PrivacyCore
) -> None:
    link = await copy_link(alice, bot, core)
    core.clock = FixedClock(core.clock.now() + timedelta(hours=12, minutes=1))
    assert bot.http is not None
    async with bot.http.get(link) as late:
        assert late.status == 410


async def test_without_a_public_address_the_copy_is_not_promised(alice: WhatsAppDriver) -> None:
    await (await opened(alice)).send("/export")
    assert "cannot send your copy" in alice.messages[-1].text


async def test_an_erasure_is_confirmed_in_the_whatsapp_chat(
    alice: WhatsAppDriver, core: PrivacyCore
) -> None:
    await (await opened(alice)).send("/delete")
    await alice.press("Yes, erase my data")
    assert "request" in alice.messages[-1].text.lower()
    ref = await customer_ref(core)
    async with core.uow() as uow:
        (request,) = await uow.requests.for_customer(ref)
    await approve(core, request.ref)
    async with asyncio.timeout(30):
        while True:
            await make_jobs_due(core, "erasure")  # the worker's next look may be minutes off
            async with core.uow() as uow:
                if not await uow.customers.exists(ref):
                    break
            await asyncio.sleep(0.1)
    async with core.uow() as uow:
        assert await is_suppressed(IdentityKind.WHATSAPP, UK, uow)
    assert Translator("en")("rights.erase.done") in texts(alice)  # sent before the key went


# --- one customer across both apps -------------------------------------------------------------


async def telegram_customer(core: PrivacyCore, phone: str, *, verified: bool) -> str:
    async with core.uow() as uow:
        found, _ = await register_customer(RegisterCustomer(IdentityKind.TELEGRAM, "5401"), uow)
        await mark_notice_seen(MarkNoticeSeen(found.ref), uow)
        await decide_consent(DecideConsent(found.ref, "marketing", True), uow)
        await uow.customers.add_identity(found.ref, Identity(IdentityKind.PHONE, phone, verified))
        await uow.commit()
    return found.ref


async def test_a_telegram_customer_with_the_same_verified_phone_is_the_same_customer(
    alice: WhatsAppDriver, core: PrivacyCore
) -> None:
    known = await telegram_customer(core, f"+{UK}", verified=True)
    await alice.send("/privacy")
    assert await customer_ref(core) == known
    # Their consent given on Telegram shows on WhatsApp: one ledger.
    assert any(label.startswith("☑ Offers") for m in alice.messages for label in m.labels())


async def test_an_unverified_phone_on_telegram_is_never_merged(
    alice: WhatsAppDriver, core: PrivacyCore
) -> None:
    claimed = await telegram_customer(core, f"+{UK}", verified=False)
    await alice.send("/start")
    assert await customer_ref(core) != claimed
    async with core.uow() as uow:
        assert (await current_consents(await customer_ref(core), uow)) == {}


# --- WhatsApp's rules ----------------------------------------------------------------------------


async def backdate(core: PrivacyCore, wa_id: str, hours: float) -> str:
    """The customer's last message ``hours`` ago."""
    ref = await customer_ref(core, wa_id)
    async with core.uow() as uow:
        customer = await uow.customers.get(ref, lock=True)
        customer.last_message_at = uow.now() - timedelta(hours=hours)
        await uow.customers.save(customer)
        await uow.commit()
    return ref


PARAMS = {"request": "q1", "kind": "access", "field": "", "asked_at": "2026-12-01T03:00:00+00:00"}


async def notify(core: PrivacyCore, ref: str) -> None:
    async with core.uow() as uow:
        await notify_customer(
            NotifyCustomer(ref, "rights.notice.completed", key="test", params=PARAMS),
            uow,
        )
        await uow.commit()


async def wait_sent(fake: FakeWhatsApp, wa_id: str, count: int) -> None:
    async with asyncio.timeout(20):
        while len(fake.messages(wa_id)) < count:
            await asyncio.sleep(0.05)


async def test_a_notice_inside_the_window_goes_as_a_message(
    alice: WhatsAppDriver, bot: WhatsAppBot, core: PrivacyCore
) -> None:
    await opened(alice)
    before = len(bot.fake.messages(UK))
    await notify(core, await backdate(core, UK, 23))
    await wait_sent(bot.fake, UK, before + 1)
    assert bot.fake.messages(UK)[-1].message["type"] == "text"


async def test_a_notice_outside_the_window_goes_as_the_policys_template(
    alice: WhatsAppDriver, bot: WhatsAppBot, core: PrivacyCore
) -> None:
    core.policy = dataclasses.replace(
        core.policy, whatsapp=WhatsAppRules(templates={"notice": "privacy_notice"})
    )
    await opened(alice)
    before = len(bot.fake.messages(UK))
    await notify(core, await backdate(core, UK, 25))
    await wait_sent(bot.fake, UK, before + 1)
    sent = bot.fake.messages(UK)[-1].message
    assert sent["type"] == "template"
    assert sent["template"]["name"] == "privacy_notice"
    assert sent["template"]["language"] == {"code": "en"}


async def test_outside_the_window_without_a_template_nothing_is_sent_and_it_is_audited(
    alice: WhatsAppDriver, bot: WhatsAppBot, core: PrivacyCore
) -> None:
    await opened(alice)
    before = len(bot.fake.messages(UK))
    ref = await backdate(core, UK, 25)
    await notify(core, ref)
    async with asyncio.timeout(20):
        while True:
            async with core.uow() as uow:
                entries = await audit_tail(20, uow)
            failed = [e for e in entries if e.action == "notice.failed"]
            if failed:
                break
            await asyncio.sleep(0.05)
    assert failed[0].details["reason"] == "outside_window"
    assert len(bot.fake.messages(UK)) == before


async def test_too_many_messages_is_waited_out_and_the_reply_arrives(
    alice: WhatsAppDriver, bot: WhatsAppBot
) -> None:
    bot.fake.fail_next(130429)
    await alice.send("/help")
    assert alice.messages
    assert "help" in texts(alice).lower() or "/privacy" in texts(alice)


# --- follow-ups on WhatsApp ---------------------------------------------------------------------


async def bought(core: PrivacyCore, order_id: str, wa_id: str = UK) -> PurchaseStatus:
    """A purchase reported by phone (the WhatsApp number), its follow-up due at once."""
    cmd = RecordPurchase(
        order_id,
        IdentityKind.PHONE,
        f"+{wa_id}",
        core.clock.now() - timedelta(hours=1),
        Decimal("129.90"),
        "HKD",
        (PurchaseItem("TEA-1", "Jasmine tea", 2, Decimal("64.95")),),
        timedelta(0),
    )
    async with core.uow() as uow:
        status = await record_purchase(cmd, uow)
        await uow.commit()
    return status


async def test_a_follow_up_needs_the_whatsapp_opt_in_too(
    alice: WhatsAppDriver, core: PrivacyCore
) -> None:
    freeze(core)
    await (await opened(alice)).press("Follow-ups after a purchase")
    assert await bought(core, "W-1") is PurchaseStatus.NO_CONSENT


async def test_with_both_consents_the_follow_up_comes_on_whatsapp(
    alice: WhatsAppDriver, bot: WhatsAppBot, core: PrivacyCore
) -> None:
    freeze(core)
    await (await opened(alice)).press("Follow-ups after a purchase")
    await alice.press("Messages on WhatsApp")
    before = len(bot.fake.messages(UK))
    assert await bought(core, "W-2") is PurchaseStatus.SCHEDULED
    await wait_sent(bot.fake, UK, before + 1)
    followup = alice.messages[-1]
    assert followup.buttons  # its one-tap answers, as on Telegram
    async with core.uow() as uow:
        given = await current_consents(await customer_ref(core), uow)
    assert given["whatsapp_messages"].channel == "whatsapp"  # the ledger says where


async def test_the_whatsapp_opt_in_is_not_offered_on_telegram(
    make_chat_here_and_on_telegram: Any,
) -> None:
    chat = await make_chat_here_and_on_telegram(7001)
    await chat.send("/start")
    assert not any("WhatsApp" in label for m in chat.messages for label in m.labels())


# --- counted by app -----------------------------------------------------------------------------


async def test_stats_count_customers_by_messaging_app(
    alice: WhatsAppDriver, core: PrivacyCore
) -> None:
    await opened(alice)
    async with core.uow() as uow:
        figures = await desk_stats(ViewStats(None), uow)
    assert figures.by_channel == {"telegram": 0, "whatsapp": 1}
    text = stats_text(Translator("en"), figures, {})
    assert "Telegram <5 · WhatsApp <5" in text  # small counts never single anyone out


async def test_metrics_count_updates_and_sends_by_app(
    alice: WhatsAppDriver, bot: WhatsAppBot
) -> None:
    await opened(alice)
    assert bot.http is not None
    async with bot.http.get(bot.url("/metrics")) as response:
        metrics = await response.text()
    assert 'privacy_updates_total{channel="whatsapp"} 1' in metrics
    assert 'privacy_outbound_sends_total{channel="whatsapp",kind="reply",outcome="sent"}' in metrics


async def test_a_consent_record_comes_as_a_text_document(
    alice: WhatsAppDriver, bot: WhatsAppBot
) -> None:
    await (await opened(alice)).press("Offers and news")
    await alice.press("The record as a file")
    name, data = alice.messages[-1].document or ("", b"")
    assert name.endswith(".jsonld.txt")
    assert json.loads(data)["dpv:hasConsentStatus"] == {"@id": "dpv:ConsentGiven"}
    assert [m[1] for m in bot.fake.media.values()] == ["text/plain"]


async def test_a_choice_from_a_list_is_a_press_like_a_button(
    alice: WhatsAppDriver, core: PrivacyCore
) -> None:
    await alice.send("/start")
    _, data = find_button(alice.messages, "Offers and news")
    row = {"type": "list_reply", "list_reply": {"id": data, "title": "☐ Offers and news"}}
    await alice.deliver({"type": "interactive", "interactive": row})
    async with core.uow() as uow:
        given = await current_consents(await customer_ref(core), uow)
    assert given["marketing"].given


def test_a_screen_with_long_choices_becomes_lists_of_ten_within_the_limits() -> None:
    rows = tuple(
        (Button(f"☐ A rather long choice number {n}", f"tok12345|cp|p{n}"),) for n in range(12)
    )
    sent = messages_for(Reply(text="Choose", buttons=rows))
    lists = [m["interactive"] for m in sent]
    assert [i["type"] for i in lists] == ["list", "list"]
    assert [len(i["action"]["sections"][0]["rows"]) for i in lists] == [10, 2]
    row = lists[0]["action"]["sections"][0]["rows"][0]
    assert len(row["title"]) <= 24
    assert row["description"] == "☐ A rather long choice number 0"


def test_three_short_choices_are_reply_buttons() -> None:
    rows = ((Button("Yes", "tok12345|ag|y"), Button("No", "tok12345|ag|n")),)
    [sent] = messages_for(Reply(text="Was it you?", buttons=rows))
    assert sent["interactive"]["type"] == "button"
    assert [b["reply"]["id"] for b in sent["interactive"]["action"]["buttons"]] == [
        "tok12345|ag|y",
        "tok12345|ag|n",
    ]


async def test_a_whatsapp_customer_who_shares_the_same_number_on_telegram_becomes_one(
    alice: WhatsAppDriver, core: PrivacyCore
) -> None:
    await (await opened(alice)).press("Offers and news")
    async with core.uow() as uow:
        telegram, _ = await register_customer(RegisterCustomer(IdentityKind.TELEGRAM, "5401"), uow)
        await claim_phone(ClaimPhone(telegram.ref, f"+{UK}", 5401, 5401), uow)
        await uow.commit()
    assert await customer_ref(core) == telegram.ref  # WhatsApp now finds the same customer
    async with core.uow() as uow:
        given = await current_consents(telegram.ref, uow)
    assert given["marketing"].given  # what they chose on WhatsApp came along


async def test_a_follow_up_outside_the_window_is_the_template_with_every_answer_and_stop(
    alice: WhatsAppDriver, bot: WhatsAppBot, core: PrivacyCore
) -> None:
    core.policy = dataclasses.replace(
        core.policy, whatsapp=WhatsAppRules(templates={"followup": "order_followup"})
    )
    freeze(core)
    await (await opened(alice)).press("Follow-ups after a purchase")
    await alice.press("Messages on WhatsApp")
    await backdate(core, UK, 25)
    before = len(bot.fake.messages(UK))
    assert await bought(core, "W-3") is PurchaseStatus.SCHEDULED
    await wait_sent(bot.fake, UK, before + 1)
    template = bot.fake.messages(UK)[-1].message["template"]
    replies = [c for c in template["components"] if c["type"] == "button"]
    payloads = [c["parameters"][0]["payload"] for c in replies]
    assert template["name"] == "order_followup"
    assert any("|fx|" in p for p in payloads)  # the one-tap stop is there too


# --- both apps in one process ----------------------------------------------------------------


async def test_one_process_serves_telegram_and_whatsapp_with_the_readmes_settings(
    core: PrivacyCore,
    fake_telegram: FakeTelegram,
    fake_whatsapp: FakeWhatsApp,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = {"TELEGRAM_BOT_TOKEN": fake_telegram.token, "TELEGRAM_API_BASE": fake_telegram.api_base}
    settings = BotSettings.from_env({**env, **fake_whatsapp.env()})
    assert settings.whatsapp is not None
    on_telegram = TelegramDriver(
        core, fake_telegram, "aiogram", hook_deliver(monkeypatch, "aiogram"), 5401
    )
    await on_telegram.start(whatsapp=settings.whatsapp)
    try:
        bot = WhatsAppBot(core, fake_whatsapp, hook_deliver(monkeypatch, "whatsapp"))
        bot.http_port, bot.http = on_telegram.http_port, ClientSession()
        on_whatsapp = WhatsAppDriver(bot, UK)
        await on_telegram.send("/start")
        await on_whatsapp.send("/start")
        assert "Privacy notice" in "\n".join(m.text for m in on_telegram.messages)
        assert "Privacy notice" in texts(on_whatsapp)
        await bot.http.close()
    finally:
        await on_telegram.close()


@pytest.mark.parametrize(
    "junk",
    [
        {},
        {"entry": "x"},
        {"entry": [1, None, "a"]},
        {"entry": [{"changes": {"value": 1}}]},
        {"entry": [{"changes": [{"value": {"metadata": "x", "messages": 5}}]}]},
        webhook_body("not-a-number", {"type": "text", "text": {"body": "hi"}}),
    ],
)
async def test_an_authentic_post_not_shaped_like_a_message_changes_nothing(
    bot: WhatsAppBot, core: PrivacyCore, junk: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    assert await bot.post(json.dumps(junk).encode()) == 200
    await asyncio.sleep(0.2)  # the work after the answer
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
    assert bot.fake.sent == []


@pytest.mark.parametrize(
    "odd",
    [
        {"type": "interactive", "interactive": "nope"},
        {"type": "contacts", "contacts": [None, 3]},
        {"type": "text", "text": ["not", "a", "map"]},
        {"type": "sticker", "sticker": {"id": "1"}},
    ],
)
async def test_an_odd_message_from_a_real_sender_is_answered_without_an_error(
    alice: WhatsAppDriver, odd: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    await alice.deliver(odd)
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
    assert alice.messages  # answered like any message (an expired button, a welcome)


async def test_a_message_delivered_late_opens_no_window_beyond_its_own_time(
    alice: WhatsAppDriver, bot: WhatsAppBot, core: PrivacyCore
) -> None:
    body = webhook_body(UK, {"type": "text", "text": {"body": "/start"}})
    sent = int(core.clock.now().timestamp()) - 25 * 3600  # sent yesterday, delivered now
    body["entry"][0]["changes"][0]["value"]["messages"][0]["timestamp"] = str(sent)
    await alice.redeliver(body)
    async with core.uow() as uow:
        customer = await uow.customers.get(await customer_ref(core))
    assert customer.last_message_at is not None
    assert int(customer.last_message_at.timestamp()) == sent


async def test_a_customer_on_both_apps_writing_on_whatsapp_is_told_there(
    alice: WhatsAppDriver, bot: WhatsAppBot, core: PrivacyCore
) -> None:
    known = await telegram_customer(core, f"+{UK}", verified=True)
    await alice.send("/privacy")  # writing on WhatsApp now: its window is open
    before = len(bot.fake.messages(UK))
    await notify(core, known)
    await wait_sent(bot.fake, UK, before + 1)
    assert bot.fake.messages(UK)[-1].message["type"] == "text"


async def test_the_telegram_account_a_number_joins_is_told_there_not_on_whatsapp(
    alice: WhatsAppDriver, bot: WhatsAppBot, core: PrivacyCore
) -> None:
    known = await telegram_customer(core, f"+{UK}", verified=True)
    await alice.send("/start")
    async with core.uow() as uow:
        key = f"notify:joined:{known}"
        told = await uow.session.scalar(select(JobRow.payload).where(JobRow.key == key))
    assert told is not None
    assert told["message"] == "customer.joined_whatsapp"
    assert told["via"] == "telegram"  # the earlier owner's app, never the new WhatsApp chat
