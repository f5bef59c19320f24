"""Waiting for the customer: staff ask for proof of identity or more detail; where
the regime allows (GDPR here) the clock stands still until the customer answers and
the due date moves on by the days waited; where it does not (CCPA) it keeps running.
The paused days show in /requests and the queue; answers are encrypted and erased
with the customer."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot.cli.requests import requests_command
from bot.render.i18n import Translator
from core.app import PrivacyCore, open_core
from core.clock import FixedClock
from core.domain.requests import RequestState, Waiting
from core.services import SYSTEM, AddStaff, add_staff
from core.services.desk.queue import DecideRequest, ViewQueue, extend_with_notice, view_queue
from core.services.rights.processing import ChooseJurisdiction, choose_jurisdiction
from core.settings import Settings
from core.storage.tables import AuditEntryRow, JobRow, RequestAnswerRow
from tests.chat_drivers import ConsoleDriver
from tests.rights_helpers import erase, telegram_customer
from tests.test_staff_desk import reason_of

ALICE, ADMIN = 6201, 8101
ASKED = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)  # Tuesday, 11:00 in Berlin
en = Translator("en")


@pytest.fixture
async def clock() -> FixedClock:
    return FixedClock(ASKED)


@pytest.fixture
async def core(settings: Settings, clock: FixedClock) -> AsyncIterator[PrivacyCore]:
    opened = await open_core(settings, clock=clock)
    async with opened.uow() as uow:
        await add_staff(AddStaff(ADMIN, "admin", SYSTEM), uow)
        await uow.commit()
    yield opened
    await opened.close()


async def corrected_email(core: PrivacyCore, regime: str) -> tuple[ConsoleDriver, str]:
    ref = await telegram_customer(core, ALICE)
    chat = ConsoleDriver(core, ALICE)
    await chat.send("/start")
    async with core.uow() as uow:
        await choose_jurisdiction(ChooseJurisdiction(ref, regime), uow)
        await uow.commit()
    await chat.send("/correct")
    await chat.press("Email")
    await chat.send("alice.new@example.com")
    async with core.uow() as uow:
        [item] = (await view_queue(ViewQueue(None), uow)).items
    return chat, item.request.ref


async def ask(core: PrivacyCore, ref: str, label: str) -> ConsoleDriver:
    desk = ConsoleDriver(core, ADMIN)
    await desk.send(f"/request {ref}")
    await desk.press(label)
    return desk


def local_due(core: PrivacyCore, due_at: datetime, regime: str) -> str:
    zone = ZoneInfo(core.policy.jurisdiction(regime).timezone)
    return due_at.astimezone(zone).date().isoformat()


async def due_of(core: PrivacyCore, ref: str) -> datetime:
    async with core.uow() as uow:
        return (await uow.requests.get(ref)).due_at


async def last_details(core: PrivacyCore, action: str) -> object:
    """The details of the latest audit entry for ``action``."""
    async with core.uow() as uow:
        details = await uow.session.scalar(
            select(AuditEntryRow.details)
            .where(AuditEntryRow.action == action)
            .order_by(AuditEntryRow.seq.desc())
            .limit(1)
        )
    return json.loads(details or "null")


async def test_gdpr_clock_stands_still_while_the_shop_waits_for_proof_of_identity(
    core: PrivacyCore, clock: FixedClock
) -> None:
    chat, ref = await corrected_email(core, "gdpr")
    before = await due_of(core, ref)
    assert local_due(core, before, "gdpr") == "2027-01-01"  # one month
    desk = await ask(core, ref, "🪪 Ask: proof it is theirs")
    assert desk.messages[-1].text == en("staff.request.asked", ref=ref)
    clock.advance(timedelta(days=3))  # answered on Friday 4 December
    await chat.send("/requests")
    assert "⏸ Waiting for you since" in chat.messages[-1].text
    await chat.press(chat.messages[-1].labels()[0])  # ✔ Confirm it is me
    await chat.share_contact("+49 151 23456789")
    assert en("rights.requests.identity_confirmed", request=ref) in [
        m.text for m in chat.messages[-2:]
    ]
    after = await due_of(core, ref)
    # 2, 3 and 4 December stood still (the day of asking still ran).
    assert local_due(core, after, "gdpr") == "2027-01-04"
    assert await last_details(core, "request.resumed") == {
        "request": ref,
        "paused_days": 3,
        "due": "2027-01-04",
    }


async def test_the_customer_sees_the_days_the_clock_stood_still(
    core: PrivacyCore, clock: FixedClock
) -> None:
    chat, ref = await corrected_email(core, "gdpr")
    await ask(core, ref, "🪪 Ask: proof it is theirs")
    clock.advance(timedelta(days=2))
    await chat.send("/requests")
    await chat.press(chat.messages[-1].labels()[0])
    await chat.share_contact("+49 151 23456789")
    await chat.send("/requests")
    assert en("rights.requests.paused", days=2) in chat.messages[-1].text


async def test_ccpa_clock_keeps_running_while_the_shop_waits(
    core: PrivacyCore, clock: FixedClock
) -> None:
    chat, ref = await corrected_email(core, "ccpa")
    before = await due_of(core, ref)
    desk = await ask(core, ref, "🪪 Ask: proof it is theirs")
    await desk.send(f"/request {ref}")
    assert "CCPA/CPRA (California)'s clock keeps running" in desk.messages[-1].text
    clock.advance(timedelta(days=5))
    await chat.send("/requests")
    await chat.press(chat.messages[-1].labels()[0])
    await chat.share_contact("+1 415 555 0134")
    assert await due_of(core, ref) == before  # "regardless of time required to verify"
    async with core.uow() as uow:
        assert (await uow.requests.get(ref)).state is RequestState.RECEIVED


async def test_the_queue_shows_the_days_a_waiting_request_has_been_paused(
    core: PrivacyCore, clock: FixedClock
) -> None:
    _, ref = await corrected_email(core, "gdpr")
    desk = await ask(core, ref, "❓ Ask: more detail")
    clock.advance(timedelta(days=4))
    await desk.send("/queue")
    assert en("staff.queue.paused", days=4) in desk.messages[-1].text


async def test_the_customer_is_told_what_the_shop_waits_for(core: PrivacyCore) -> None:
    _, ref = await corrected_email(core, "gdpr")
    await ask(core, ref, "❓ Ask: more detail")
    async with core.uow() as uow:
        payloads = (await uow.session.scalars(select(JobRow.payload))).all()
    messages = [p.get("message") for p in payloads if isinstance(p, dict)]
    assert "staff.notice.waiting_clarification" in messages


async def test_a_customers_answer_reaches_staff_and_is_stored_encrypted(
    core: PrivacyCore, clock: FixedClock
) -> None:
    chat, ref = await corrected_email(core, "gdpr")
    desk = await ask(core, ref, "❓ Ask: more detail")
    clock.advance(timedelta(days=1))
    await chat.send("/requests")
    await chat.press(chat.messages[-1].labels()[0])  # ✍ Answer about ...
    await chat.send("Only the address on my loyalty card MARKER-7731")
    assert chat.messages[-1].text.startswith("Thank you: your answer is with our team")
    await desk.send(f"/request {ref}")
    assert "Customer's answer" in desk.messages[-1].text
    assert "MARKER-7731" in desk.messages[-1].text
    assert await last_details(core, "request.answers_read") == {"request": ref, "answers": 1}
    async with core.uow() as uow:
        [stored] = (await uow.session.scalars(select(RequestAnswerRow.text_enc))).all()
    assert b"MARKER" not in stored  # ciphertext under the customer's key
    assert "MARKER" not in str(await last_details(core, "request.answered"))


async def test_an_answer_too_long_is_asked_again_and_nothing_is_kept(core: PrivacyCore) -> None:
    chat, ref = await corrected_email(core, "gdpr")
    await ask(core, ref, "❓ Ask: more detail")
    await chat.send("/requests")
    await chat.press(chat.messages[-1].labels()[0])
    await chat.send("x" * 1001)
    assert chat.messages[-1].text == en("rights.requests.answer_too_long", max=1000)
    async with core.uow() as uow:
        assert (await uow.requests.get(ref)).waiting_for is Waiting.CLARIFICATION
        assert (await uow.session.scalars(select(RequestAnswerRow))).all() == []


async def test_an_answer_button_for_a_request_no_longer_waiting_has_expired(
    core: PrivacyCore,
) -> None:
    chat, ref = await corrected_email(core, "gdpr")
    desk = await ask(core, ref, "❓ Ask: more detail")
    await chat.send("/requests")
    label = chat.messages[-1].labels()[0]
    await desk.send(f"/request {ref}")
    await desk.press("▶ Customer answered")
    await desk.send("answered by email")
    assert desk.messages[-1].text.startswith(f"{ref}: the wait is over")
    await chat.press(label)
    assert chat.notice == en("button.expired")


async def test_an_erasure_takes_the_customers_answers_along(core: PrivacyCore) -> None:
    chat, ref = await corrected_email(core, "gdpr")
    await ask(core, ref, "❓ Ask: more detail")
    await chat.send("/requests")
    await chat.press(chat.messages[-1].labels()[0])
    await chat.send("my loyalty card number is 1234")
    async with core.uow() as uow:
        customer_ref = (await uow.requests.get(ref)).customer_ref
    await erase(core, customer_ref)
    async with core.uow() as uow:
        assert await uow.requests.answers(ref) == []


async def test_an_extension_after_a_pause_keeps_the_days_waited(
    core: PrivacyCore, clock: FixedClock
) -> None:
    chat, ref = await corrected_email(core, "gdpr")
    await ask(core, ref, "🪪 Ask: proof it is theirs")
    clock.advance(timedelta(days=3))
    await chat.send("/requests")
    await chat.press(chat.messages[-1].labels()[0])
    await chat.share_contact("+49 151 23456789")
    async with core.uow() as uow:
        request = await extend_with_notice(DecideRequest(None, ref, "complex request"), uow)
        await uow.commit()
    # 1 Jan + 2 months = 1 March, plus the 3 days waited.
    assert local_due(core, request.due_at, "gdpr") == "2027-03-04"


async def test_the_cli_asks_the_customer_and_ends_the_wait(
    core: PrivacyCore, clock: FixedClock, capsys: pytest.CaptureFixture[str]
) -> None:
    _, ref = await corrected_email(core, "gdpr")
    assert await requests_command("wait", ref, "identity", core) == 0
    assert "clock stands still" in capsys.readouterr().out
    clock.advance(timedelta(days=1))
    assert await requests_command("resume", ref, "proof seen in the shop", core) == 0
    assert "the wait for the customer is over (due 2027-01-02)" in capsys.readouterr().out
    async with core.uow() as uow:
        request = await uow.requests.get(ref)
    assert await reason_of(core, request.history[-1][2] or "", request.customer_ref) == (
        "proof seen in the shop"
    )


async def test_the_cli_refuses_to_wait_for_something_unnamed(
    core: PrivacyCore, capsys: pytest.CaptureFixture[str]
) -> None:
    _, ref = await corrected_email(core, "gdpr")
    assert await requests_command("wait", ref, "", core) == 2
    assert "identity, clarification" in capsys.readouterr().err
    async with core.uow() as uow:
        assert (await uow.requests.get(ref)).state is RequestState.RECEIVED
