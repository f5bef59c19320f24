"""Flows that keep their word (issue 16): what the bot says it will do, it does.

Run in the terminal channel and on one Telegram framework where the point was seen.
"""

from __future__ import annotations

import argparse
import io
import json
import zipfile
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.render.export import build_export
from bot.render.i18n import Translator
from bot.render.notices import notice_text
from core.app import PrivacyCore, open_core
from core.clock import FixedClock
from core.domain.policy import DEFAULT_POLICY_PATH
from core.services import current_consents, survey_answers
from core.services.desk.queue import DecideRequest, approve_request
from core.services.rights.processing import Flag, SetFlag, set_processing_flag
from core.settings import Settings
from core.storage.tables import JobRow
from tests.chat_drivers import ConsoleDriver, Driver
from tests.chat_fixtures import MakeChat, chat_customer
from tests.rights_helpers import erase

ALICE = 6401
en = Translator("en")
hk = Translator("zh_Hant")
cn = Translator("zh_Hans")


@pytest.fixture
async def chat(make_chat: MakeChat) -> Driver:
    return await make_chat(ALICE)


@pytest.fixture
def make(make_chat_here_and_on_telegram: MakeChat) -> MakeChat:
    return make_chat_here_and_on_telegram


async def opened(make: MakeChat, language: str = "en", user: int = ALICE) -> Driver:
    """A customer's chat after /start, on the terminal and on one Telegram framework."""
    chat = await make(user, language)
    await chat.send("/start")
    return chat


async def started(core: PrivacyCore, language: str = "en", user: int = ALICE) -> ConsoleDriver:
    chat = ConsoleDriver(core, user, language)
    await chat.send("/start")
    return chat


async def ref_of(core: PrivacyCore, user: int = ALICE) -> str:
    async with core.uow() as uow:
        found = await chat_customer(user, uow)
    assert found is not None
    return found.ref


# --- the survey ------------------------------------------------------------------------


async def test_stop_keeps_the_survey_place_and_survey_offers_to_continue(
    chat: Driver, core: PrivacyCore
) -> None:
    await chat.send("/start")
    await chat.send("/survey")
    await chat.press("Weekly")  # question 1 answered; question 2 open
    await chat.press("Stop")
    assert "/survey continues it" in chat.messages[-1].text
    await chat.send("/survey")
    assert chat.messages[-1].text == en("survey.paused", n=2, total=3)
    await chat.press("▶ Continue at question 2")
    assert "Done" in chat.messages[-1].labels()  # question 2, the multiple choice


async def test_typing_stop_at_a_free_text_question_stops_instead_of_answering(
    make: MakeChat,
    core: PrivacyCore,
) -> None:
    chat = await opened(make, "zh-hans")
    await chat.send("/survey")
    await chat.press(cn("survey.skip"))
    await chat.press(cn("survey.skip"))  # the free-text question
    await chat.send("停止")
    assert chat.messages[-1].text == cn("survey.cancelled")
    async with core.uow() as uow:
        answers = await survey_answers(await ref_of(core), "preferences", uow)
    assert "improve" not in answers


async def test_back_shows_the_earlier_answer_as_chosen(make: MakeChat, core: PrivacyCore) -> None:
    chat = await opened(make)
    await chat.send("/survey")
    await chat.press("Monthly")
    await chat.press("Back")
    assert "✓ Monthly" in chat.messages[-1].labels()


# --- corrections -----------------------------------------------------------------------


async def test_an_invalid_email_asks_again_and_takes_the_next_one(
    chat: Driver, core: PrivacyCore
) -> None:
    await chat.send("/start")
    await chat.send("/correct")
    await chat.press("Email")
    assert "new email (at most 254 characters)" in chat.messages[-1].text
    await chat.send("not-an-email")
    assert chat.messages[-1].text.startswith(en("error.bad_email"))
    assert en("rights.correct.retry", field="email", max=254) in chat.messages[-1].text
    await chat.send("alice@example.com")
    assert "Sorry" not in chat.messages[-1].text
    assert "email" in chat.messages[-1].text.lower()


async def test_a_name_over_the_limit_says_the_limit(make: MakeChat, core: PrivacyCore) -> None:
    chat = await opened(make)
    await chat.send("/correct")
    await chat.press("Name")
    await chat.send("x" * 101)
    assert en("rights.correct.retry", field="name", max=100) in chat.messages[-1].text


# --- "stop messaging me" ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "phrase", "t"),
    [
        ("en", "stop messaging me", en),
        ("zh-hk", "我唔想再收到訊息", hk),
        ("zh-hans", "不要再发消息给我", cn),
    ],
)
async def test_stop_messaging_me_stops_every_message_purpose_with_one_tap(
    make: MakeChat, core: PrivacyCore, language: str, phrase: str, t: Translator
) -> None:
    chat = await opened(make, language)
    await chat.press(f"☐ {t('purpose.follow_up.title')}")
    await chat.press(f"☐ {t('purpose.marketing.title')}")
    await chat.send(phrase)
    assert t("purpose.follow_up.title") in chat.messages[-1].text
    assert t("purpose.marketing.title") in chat.messages[-1].text
    await chat.press(t("consent.stop.all"))
    assert t("consent.stop.done") in [m.text for m in chat.messages]
    async with core.uow() as uow:
        current = await current_consents(await ref_of(core), uow)
    assert not current["follow_up"].given
    assert not current["marketing"].given


async def test_stop_messaging_me_with_nothing_to_stop_says_so(
    make: MakeChat, core: PrivacyCore
) -> None:
    chat = await opened(make)
    await chat.send("unsubscribe")
    assert chat.messages[-1].text == en("consent.stop.nothing")


# --- what /privacy and /mydata say ---------------------------------------------------


async def test_privacy_shows_that_an_objection_overrides_a_marketing_consent(
    chat: Driver, core: PrivacyCore
) -> None:
    await chat.send("/start")
    await chat.press("☐ Offers and news")
    async with core.uow() as uow:
        await set_processing_flag(
            SetFlag(await ref_of(core, chat.user_id), Flag.OBJECT_MARKETING, True), uow
        )
        await uow.commit()
    await chat.send("/privacy")
    assert en("consent.status.objection_overrides") in chat.messages[-1].text


async def test_mydata_lists_only_purposes_in_force_and_names_the_declined(
    make: MakeChat,
    core: PrivacyCore,
) -> None:
    chat = await opened(make)
    await chat.press("☐ Follow-ups after a purchase")
    await chat.send("/mydata")
    text = chat.messages[-1].text
    contact = text.split(en("rights.category.contact"))[1].split("\n\n")[0]
    assert "Follow-ups after a purchase" in contact.split("Not used for")[0]
    assert "Offers and news" in contact.split("Not used for")[1]


# --- export rate limit ---------------------------------------------------------------


async def test_the_export_limit_says_when_to_ask_again_in_local_time(
    make: MakeChat, core: PrivacyCore
) -> None:
    core.clock = FixedClock(datetime(2026, 12, 1, 2, 0, tzinfo=UTC))  # 10:00 in Hong Kong
    chat = await opened(make)
    for _ in range(3):
        await chat.send("/export")
    await chat.send("/export")
    assert chat.messages[-1].text == en("rights.export.try_at", limit=3, at="2026-12-01 11:00 HKT")


# --- after an erasure ------------------------------------------------------------------


async def test_the_first_message_after_an_erasure_says_it_is_a_fresh_start(
    make: MakeChat, core: PrivacyCore
) -> None:
    chat = await opened(make)
    ref = await ref_of(core)
    await erase(core, ref)
    before = len(chat.messages)
    await chat.send("hello")
    assert chat.messages[before].text == en("start.after_erasure")


async def test_a_new_customer_is_not_told_of_an_erasure(core: PrivacyCore) -> None:
    chat = await started(core, user=ALICE + 1)
    assert all(m.text != en("start.after_erasure") for m in chat.messages)


# --- notices name the request --------------------------------------------------------


async def test_an_approval_notice_names_the_kind_field_and_day_asked(core: PrivacyCore) -> None:
    core.clock = FixedClock(datetime(2026, 11, 30, 17, 0, tzinfo=UTC))  # 1 Dec in Hong Kong
    chat = await started(core)
    await chat.send("/correct")
    await chat.press("Email")
    await chat.send("alice@example.com")
    async with core.uow() as uow:
        [request] = await uow.requests.for_customer(await ref_of(core))
        await approve_request(DecideRequest(None, request.ref), uow)
        await uow.commit()
        payload = await uow.session.scalar(
            select(JobRow.payload).where(JobRow.key == f"notify:approved:{request.ref}")
        )
    assert payload is not None
    text = notice_text(en, payload["message"], payload["params"], "Asia/Hong_Kong")
    assert text.startswith(f"Your request of 2026-12-01 (Correction: email, {request.ref})")
    assert "alice" not in json.dumps(payload)  # codes only, never the new value


# --- /privacy carries the shop's privacy policy ----------------------------------------


async def test_privacy_shows_the_notice_when_the_shop_links_no_policy(
    make: MakeChat, core: PrivacyCore
) -> None:
    chat = await opened(make)
    await chat.send("/privacy")
    assert chat.messages[-2].text.startswith("Privacy notice (version")
    assert chat.messages[-1].text.startswith(en("privacy.title"))


async def test_privacy_links_the_shops_privacy_policy(settings: Settings, tmp_path: Path) -> None:
    policy = tmp_path / "policy.toml"
    text = DEFAULT_POLICY_PATH.read_text("utf-8")
    policy.write_text(
        text.replace("# privacy_policy_url = ", "privacy_policy_url = "),
        "utf-8",
    )
    core = await open_core(replace(settings, policy_file=policy))
    try:
        chat = await started(core)
        await chat.send("/privacy")
        assert chat.messages[-2].text == en(
            "privacy.policy_link", url="https://shop.example/privacy"
        )
    finally:
        await core.close()


# --- the CLI's audit tail ------------------------------------------------------------


async def test_cli_audit_tail_prints_details_as_json_not_python(
    core: PrivacyCore, capsys: pytest.CaptureFixture[str]
) -> None:
    await started(core)
    from bot.cli.commands import _audit

    assert await _audit(argparse.Namespace(action="tail", n=5, json=False), core) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines
    assert all("{'" not in line for line in lines)  # no dict reprs
    assert any('{"channel": "console"' in line for line in lines)


async def test_cli_audit_tail_json_gives_one_object_a_line(
    core: PrivacyCore, capsys: pytest.CaptureFixture[str]
) -> None:
    await started(core)
    from bot.cli.commands import _audit

    assert await _audit(argparse.Namespace(action="tail", n=5, json=True), core) == 0
    entries = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {"seq", "at", "actor", "action", "outcome", "details"} <= set(entries[0])


# --- the export page reads as the chat did ------------------------------------------


async def test_the_export_page_in_hong_kong_chinese_shows_no_internal_codes(
    core: PrivacyCore,
) -> None:
    chat = await started(core, "zh-hk")
    await chat.press(f"☐ {hk('purpose.follow_up.title')}")
    await chat.send("/survey")
    await chat.press(hk("survey.opt.frequency.rarely"))
    await chat.send("/correct")
    await chat.press(hk("rights.field.email"))
    await chat.send("alice.new@example.com")
    built = await build_export(core, await ref_of(core))
    with zipfile.ZipFile(io.BytesIO(built.content)) as archive:
        page = archive.read("index.html").decode()
    for code in ("follow_up", ">given<", "rectification", "customer.registered", ">rarely<", "HKT"):
        assert code not in page, code
    for shown in (
        hk("purpose.follow_up.title"),
        hk("consent.decision.given"),
        hk("survey.opt.frequency.rarely"),
        hk("export.action.customer.registered"),
        hk("export.means.audit"),
        hk("rights.export.html.pending"),
        "alice.new@example.com",  # the correction waiting for approval
        "香港時間",  # times name their zone, in words
    ):
        assert shown in page, shown


async def test_any_command_ends_a_correction_waiting_for_typed_text(
    make: MakeChat, core: PrivacyCore
) -> None:
    chat = await opened(make)
    await chat.send("/correct")
    await chat.press("Email")
    await chat.send("/help")
    await chat.send("alice@example.com")  # no longer taken as the new email
    async with core.uow() as uow:
        assert await uow.requests.for_customer(await ref_of(core)) == []


# --- Chinese a customer reads ---------------------------------------------------------


async def test_simplified_chinese_names_the_law_and_the_time_zone_in_words(
    make: MakeChat,
    core: PrivacyCore,
) -> None:
    chat = await opened(make, "zh-hans")
    await chat.send("/rights")
    assert "香港《个人资料（私隐）条例》" in chat.messages[-1].text
    assert "PDPO (Hong Kong)" not in chat.messages[-1].text
    await chat.send("/requests")
    await chat.send("/export")
    await chat.send("/requests")
    assert "香港时间" in chat.messages[-1].text
    assert "HKT" not in chat.messages[-1].text


# --- a press on a keyboard that is gone ----------------------------------------------


async def test_a_press_on_a_long_gone_keyboard_offers_the_current_one_and_changes_nothing(
    make: MakeChat, core: PrivacyCore
) -> None:
    chat = await opened(make, "zh-hk")
    await chat.send("/privacy")
    current = chat.messages[-1]
    _, data = next(b for b in current.buttons if hk("purpose.marketing.title") in b[0])
    await chat.press_raw("zzzzzzzz" + data[8:], current.id)  # a token no keyboard has now
    assert chat.notice == hk("button.expired")
    assert chat.messages[-1].text == hk("button.offer_last")
    assert chat.messages[-1].labels() == current.labels()
    async with core.uow() as uow:
        assert "marketing" not in await current_consents(await ref_of(core), uow)


async def test_a_forged_payload_is_refused_without_offering_a_keyboard(
    make: MakeChat, core: PrivacyCore
) -> None:
    chat = await opened(make)
    count = len(chat.messages)
    await chat.press_raw("not a payload", None)
    assert chat.notice == en("button.expired")
    assert len(chat.messages) == count
