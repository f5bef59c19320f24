"""Defects 5-9 of the adversarial probe (issue 19): forged actions, logs, purchase
callbacks, terminal exports after an erasure, and small routing faults."""

from __future__ import annotations

import io
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.background.outreach import send_notice
from bot.channels.console import ConsoleChat
from bot.conversation import FlowEngine
from bot.logs import configure_logging
from bot.outbound import Outbound
from bot.render.i18n import Translator
from core.app import PrivacyCore
from core.domain.customer import IdentityKind
from core.services import current_consents
from core.services.audit import verify_audit
from core.services.desk.reasons import open_reason
from core.services.outreach.notices import NOTIFY
from core.services.rights.export import export_snapshot
from core.services.rights.rectification import CorrectField, correct_field
from core.storage.tables import Base, PurchaseRow
from tests.chat_drivers import ConsoleDriver, TelegramDriver, hook_deliver
from tests.fake_telegram import FakeTelegram
from tests.followup_support import (
    count,
    customer,
    freeze,
    hook_client,
    jobs,
    post,
    purchase_body,
    run_steps,
    signed,
)
from tests.outbound_support import RecordingSender
from tests.rights_helpers import erase, telegram_customer
from tests.test_staff_desk import ADMIN, AGENT, staff
from tests.test_staff_desk import customer as desk_customer

ALICE = 7201
en = Translator("en")


async def ref_of(core: PrivacyCore, user: int = ALICE) -> str | None:
    async with core.uow() as uow:
        found = await uow.customers.find(IdentityKind.TELEGRAM, str(user))
    return None if found is None else found.ref


# --- 5. a keyboard's token goes only with that keyboard's actions --------------------


@pytest.mark.parametrize("forged", ["cs|marketing:1", "rf|restrict:1", "rj|gdpr", "rd|yes"])
async def test_a_language_keyboards_token_is_refused_with_another_keyboards_action(
    core: PrivacyCore, forged: str
) -> None:
    chat = ConsoleDriver(core, ALICE)
    await chat.send("/start")
    await chat.send("/language")
    keyboard = chat.messages[-1]
    token = keyboard.buttons[0][1].split("|")[0]
    count = len(chat.messages)
    await chat.press_raw(f"{token}|{forged}", keyboard.id)
    assert chat.notice == en("button.expired")
    assert [m.text for m in chat.messages[count:]] in ([], [en("button.offer_last")])
    ref = await ref_of(core)
    assert ref is not None
    async with core.uow() as uow:
        assert "marketing" not in await current_consents(ref, uow)
        assert await uow.requests.for_customer(ref) == []
        customer = await uow.customers.get(ref)
    assert customer.jurisdiction != "gdpr"


async def test_the_language_keyboard_still_works_with_its_own_action(core: PrivacyCore) -> None:
    chat = ConsoleDriver(core, ALICE)
    await chat.send("/start")
    await chat.send("/language")
    await chat.press("繁體中文")
    ref = await ref_of(core)
    assert ref is not None
    async with core.uow() as uow:
        assert (await uow.customers.get(ref)).language == "zh_Hant"


# --- 6. no message text, chat id or contact in a log line ----------------------------


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """The bot's own logging set-up, writing to a buffer (restored afterwards)."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    out = io.StringIO()
    configure_logging(logging.DEBUG, out)
    try:
        yield out
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)


async def test_a_client_error_while_replying_logs_no_text_or_chat_id(
    framework: str,
    core: PrivacyCore,
    fake_telegram: FakeTelegram,
    monkeypatch: pytest.MonkeyPatch,
    log_lines: io.StringIO,
) -> None:
    processed = hook_deliver(monkeypatch, framework)
    chat = TelegramDriver(core, fake_telegram, framework, processed, 7301)
    await chat.start()
    try:
        fake_telegram.garble_next("sendMessage", times=5)
        await chat.send("/help")
    finally:
        await chat.close()
    written = log_lines.getvalue()
    assert written  # something was logged about it
    for secret in ("7301", en("help.text")[:30]):
        assert secret not in written, secret


def test_a_library_record_keeps_its_wording_and_error_type_only(
    log_lines: io.StringIO,
) -> None:
    try:
        raise ValueError("+852 9123 4567 alice@example.com")
    except ValueError:
        logging.getLogger("aiogram.event").exception("Cause exception in update %s", 7301)
    written = log_lines.getvalue()
    assert "Cause exception in update %s [ValueError]" in written
    for secret in ("7301", "9123", "alice@example.com"):
        assert secret not in written


# --- 8. the terminal's exports go with the erasure, and expire ------------------------


async def test_the_terminals_saved_exports_are_deleted_with_the_customers_data(
    core: PrivacyCore, tmp_path: Path
) -> None:
    files = tmp_path / "exports"
    chat = ConsoleChat(FlowEngine(core), io.StringIO(), ALICE, "en", files)
    await chat.send("/start")
    await chat.send("/export")
    assert list(files.glob("my-data-*.zip"))
    ref = await ref_of(core)
    assert ref is not None
    await erase(core, ref)
    await chat.send("hello")
    assert list(files.glob("my-data-*")) == []


async def test_the_terminals_saved_exports_expire_after_a_week(
    core: PrivacyCore, tmp_path: Path
) -> None:
    files = tmp_path / "exports"
    chat = ConsoleChat(FlowEngine(core), io.StringIO(), ALICE, "en", files)
    await chat.send("/start")
    files.mkdir()
    old = files / "my-data-2026-11-01-100000.zip"
    old.write_bytes(b"PK")
    week_ago = time.time() - 8 * 86400
    os.utime(old, (week_ago, week_ago))
    await chat.send("/export")
    assert not old.exists()
    assert len(list(files.glob("my-data-*.zip"))) == 1


# --- 9. small routing faults -----------------------------------------------------------


async def test_a_junk_press_from_a_stranger_registers_nobody(core: PrivacyCore) -> None:
    stranger = ConsoleDriver(core, 7299)
    await stranger.press_raw("zzzzzzzz|cs|marketing:1", None)
    assert stranger.notice == en("button.expired")
    assert await ref_of(core, 7299) is None


@pytest.mark.parametrize(
    ("language", "typed", "answer"),
    [("en", "stop messaging me", "consent.stop.nothing"), ("zh-hans", "删除我的资料", None)],
)
async def test_a_rights_intent_wins_over_an_open_survey_question(
    core: PrivacyCore, language: str, typed: str, answer: str | None
) -> None:
    t = Translator("zh_Hans" if language == "zh-hans" else "en")
    chat = ConsoleDriver(core, ALICE, language)
    await chat.send("/start")
    await chat.send("/survey")
    await chat.send(typed)
    reply = chat.messages[-1]
    assert t("survey.use_buttons") not in reply.text
    if answer is not None:
        assert reply.text == t(answer)
    else:
        assert t("rights.erase.confirm") in reply.labels()


async def test_a_command_addressed_to_another_bot_is_ignored(
    framework: str,
    core: PrivacyCore,
    fake_telegram: FakeTelegram,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    processed = hook_deliver(monkeypatch, framework)
    chat = TelegramDriver(core, fake_telegram, framework, processed, ALICE)
    await chat.start()
    try:
        await chat.send("/start@test_bot")
        count = len(chat.messages)
        fake_telegram.push_command(ALICE, "/help@other_bot")
        await chat.send("/help@test_bot")  # settles after both were handled
    finally:
        await chat.close()
    assert len(chat.messages) == count + 1
    assert chat.messages[-1].text == en("help.text")


async def test_a_customers_try_at_a_staff_command_is_audited_as_that_customer(
    core: PrivacyCore,
) -> None:
    chat = ConsoleDriver(core, ALICE)
    await chat.send("/start")
    await chat.send("/queue")
    ref = await ref_of(core)
    async with core.uow() as uow:
        denied = [e async for e in uow.audit.stream() if e.action == "desk.queue"]
    assert [(e.actor_kind, e.actor_ref, e.outcome) for e in denied] == [("customer", ref, "denied")]


# --- 7. purchase callbacks refuse nonsense -----------------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        {"total": "-0"},
        {"total": "1e400"},
        {"total": "NaN"},
        {"items": [{"sku": "T", "name": "Tea", "quantity": 10**300, "price": "1"}]},
        {"items": [{"sku": "T", "name": "Tea", "quantity": 1, "price": "1E+999999"}]},
        {"purchased_at": "2030-01-01T00:00:00+00:00"},
    ],
)
async def test_a_purchase_with_a_nonsense_figure_is_refused_and_nothing_stored(
    core: PrivacyCore, change: dict[str, object]
) -> None:
    freeze(core)
    await customer(core, 5401)
    async with hook_client(core) as client:
        status, answer = await post(client, core, purchase_body("N-1", 5401, **change))
    assert status == 400
    assert answer["problems"]
    assert await count(core, PurchaseRow) == 0


async def test_a_purchase_older_than_the_follow_up_window_is_recorded_not_followed_up(
    core: PrivacyCore,
) -> None:
    freeze(core)
    await customer(core, 5401)
    body = purchase_body("OLD-1", 5401, purchased_at="2001-01-01T10:00:00+08:00")
    async with hook_client(core) as client:
        status, answer = await post(client, core, body)
    assert (status, answer) == (202, {"status": "too_old"})
    assert await count(core, PurchaseRow) == 1
    assert await jobs(core) == []


async def test_a_purchase_callback_that_is_not_json_gets_415(core: PrivacyCore) -> None:
    freeze(core)
    raw, headers = signed(core, purchase_body("F-1", 5401))
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    async with (
        hook_client(core) as client,
        client.post("/hooks/purchase", data=raw, headers=headers) as response,
    ):
        assert response.status == 415
    assert await count(core, PurchaseRow) == 0


async def test_a_telegram_id_with_leading_zeros_names_the_same_customer(
    core: PrivacyCore,
) -> None:
    freeze(core)
    await customer(core, 5401)
    async with hook_client(core) as client:
        status, answer = await post(client, core, purchase_body("Z-1", "0005401"))
    assert (status, answer) == (202, {"status": "scheduled"})


# --- 4. text typed by staff goes with the customer's erasure -------------------------


async def reject_correction(core: PrivacyCore, customer_ref: str, reason: str) -> None:
    """The customer asks to change their email; an agent rejects it in the chat with ``reason``."""
    async with core.uow() as uow:
        request, _ = await correct_field(CorrectField(customer_ref, "email", "a@example.com"), uow)
        await uow.commit()
    agent = ConsoleDriver(core, AGENT)
    await agent.send(f"/request {request.ref}")
    await agent.press("Reject")
    await agent.send(reason)


async def rows_holding(core: PrivacyCore, marker: str) -> list[str]:
    """Every table whose rows (as stored) contain ``marker``."""
    found = []
    async with core.uow() as uow:
        for table in Base.metadata.sorted_tables:
            rows = (await uow.session.execute(select(table))).all()
            if marker in repr(rows):
                found.append(table.name)
    return found


async def test_reasons_typed_by_staff_are_never_stored_in_clear_and_go_with_an_erasure(
    core: PrivacyCore,
) -> None:
    await staff(core, ADMIN, AGENT)
    alice = await desk_customer(core)  # known by her phone, +852 9123 4567
    await ConsoleDriver(core, AGENT).send("/lookup +85291234567 order MARKER7F3A about a parcel")
    await reject_correction(core, alice, "identity MARKER7F3A no proof")
    assert await rows_holding(core, "MARKER7F3A") == []
    assert await rows_holding(core, "order") != []  # the category stays, for the audit
    await erase(core, alice)
    async with core.uow() as uow:
        assert (await verify_audit(uow)).ok  # the chain hashes the sealed form
        lookups = [e async for e in uow.audit.stream() if e.action == "staff.lookup"]
        sealed = lookups[-1].details["reason"]
        assert sealed.startswith("order sealed:")
        assert (await open_reason(sealed, alice, uow)).note == ""  # the key went with her


async def test_the_customers_export_shows_the_reason_they_were_told_not_its_sealed_form(
    core: PrivacyCore,
) -> None:
    await staff(core, AGENT)
    alice = await desk_customer(core)
    await reject_correction(core, alice, "identity no proof of the address")
    async with core.uow() as uow:
        snapshot = await export_snapshot(alice, uow)
    [(shown, _)] = snapshot.requests
    assert shown.history[-1][2] == "identity: no proof of the address"


async def test_the_rejected_customer_reads_the_category_in_words_and_the_staff_text(
    core: PrivacyCore,
) -> None:
    await staff(core, AGENT)
    await reject_correction(
        core, await telegram_customer(core, ALICE), "identity no proof of the address"
    )
    sender = RecordingSender()
    await run_steps(core, NOTIFY, send_notice, Outbound(sender))
    [(chat, text)] = sender.texts
    assert chat == ALICE
    assert (
        en("reason.with_note", category=en("reason.identity"), note="no proof of the address")
        in text
    )
