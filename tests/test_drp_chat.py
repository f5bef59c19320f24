"""An agent's request asked of the customer in their own chat: yes goes on as their
own request, no refuses it as fraud; the agent hears each change at its callback."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from aiohttp import ClientSession, web
from aiohttp.test_utils import TestServer
from sqlalchemy import select

from bot.background.agent_jobs import (
    ask_customer,
    callback_key,
    end_question,
    post_status,
    send_staff_alert,
)
from bot.background.outreach import send_notice
from bot.conversation import FlowEngine
from bot.conversation.events import EventKind, Incoming, Outcome
from bot.outbound import Outbound
from core.app import PrivacyCore
from core.domain.customer import IdentityKind
from core.services import find_customer
from core.services.customers import mark_unreachable
from core.services.rights.downstream import sign
from core.services.rights.erasure import RequestErasure, request_erasure
from core.storage.tables import JobRow
from tests.chat_drivers import TelegramDriver, hook_deliver
from tests.drp_agent import DrpAgent
from tests.drp_support import Drp, claims, customer_with_contacts, drp_server, enable_drp
from tests.fake_telegram import FakeTelegram
from tests.followup_support import SECRET, freeze, run_steps
from tests.outbound_support import RecordingSender
from tests.test_staff_desk import ADMIN, AUDITOR, staff

USER = 5401


# --- on both Telegram frameworks, through privacy-bot run's own HTTP server ---------------


@dataclass
class ChatDrp:
    driver: TelegramDriver
    agent: DrpAgent
    http: ClientSession


@pytest.fixture
async def chat_drp(
    framework: str,
    core: PrivacyCore,
    fake_telegram: FakeTelegram,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[ChatDrp]:
    processed = hook_deliver(monkeypatch, framework)
    driver = TelegramDriver(core, fake_telegram, framework, processed, USER)
    agent = DrpAgent("TEST_AGENT", f"http://127.0.0.1:{driver.http_port}/drp", core.clock.now)
    enable_drp(core, agent)
    await driver.start()
    try:
        await driver.send("/start")
        await customer_with_contacts(core, USER)
        async with ClientSession() as http:
            assert (await agent.pair(http))[0] == 200
            yield ChatDrp(driver, agent, http)
    finally:
        await driver.close()


async def asked(driver: TelegramDriver) -> None:
    async with asyncio.timeout(20):
        while not any("Yes, it was me" in label for m in driver.messages for label in m.labels()):
            await asyncio.sleep(0.05)


async def test_yes_in_the_chat_makes_the_agents_deletion_the_customers_own_request(
    chat_drp: ChatDrp,
) -> None:
    _, made = await chat_drp.agent.ask(chat_drp.http, "deletion", **claims())
    await asked(chat_drp.driver)
    question = chat_drp.driver.messages[-1].text
    assert "TEST_AGENT" in question
    assert "erase your personal information" in question
    await chat_drp.driver.press("Yes, it was me")
    texts = [m.text for m in chat_drp.driver.messages]
    assert any("taking TEST_AGENT's request as yours" in t for t in texts)
    _, status = await chat_drp.agent.status(chat_drp.http, made["request_id"])
    assert status["status"] == "in_progress"
    assert "reason" not in status  # no longer waiting for the customer
    assert status["expected_by"] > status["received_at"]


async def test_no_in_the_chat_refuses_the_agents_request_as_suspected_fraud(
    core: PrivacyCore, chat_drp: ChatDrp
) -> None:
    _, made = await chat_drp.agent.ask(chat_drp.http, "access", **claims())
    await asked(chat_drp.driver)
    await chat_drp.driver.press("No, I did not ask for this")
    assert "We refused TEST_AGENT's request" in chat_drp.driver.messages[-1].text
    _, status = await chat_drp.agent.status(chat_drp.http, made["request_id"])
    assert (status["status"], status["reason"]) == ("denied", "suspected_fraud")
    async with core.uow() as uow:
        alert = await uow.session.scalar(select(JobRow.payload).where(JobRow.kind == "staff_alert"))
    assert alert is not None
    assert alert["params"]["request"] == made["request_id"]


# --- one step at a time, on the conversation engine -----------------------------------


@pytest.fixture
async def drp(core: PrivacyCore) -> AsyncIterator[Drp]:
    freeze(core)
    async with drp_server(core) as found:
        assert (await found.agent.pair(found.http))[0] == 200
        await customer_with_contacts(core, USER)
        yield found


async def question_buttons(core: PrivacyCore) -> dict[str, str]:
    """Send the due questions as the worker would; the last one's buttons by label."""
    sender = RecordingSender()
    await run_steps(core, "agent_ask", ask_customer, Outbound(sender))
    _, reply = sender.sent[-1]
    return {b.text: b.data for row in reply.buttons for b in row}


async def press(core: PrivacyCore, data: str) -> Outcome:
    event = Incoming(user_id=USER, chat_id=USER, kind=EventKind.BUTTON, data=data)
    return await FlowEngine(core).handle(event)


async def test_a_confirmed_copy_goes_to_the_customers_chat_never_to_the_agent(
    core: PrivacyCore, drp: Drp
) -> None:
    _, made = await drp.agent.ask(drp.http, "access", **claims())
    buttons = await question_buttons(core)
    outcome = await press(core, buttons["✅ Yes, it was me"])
    assert [r.document[0] for r in outcome.replies if r.document]  # the copy, in the chat
    _, status = await drp.agent.status(drp.http, made["request_id"])
    assert status["status"] == "fulfilled"
    assert "never" in status["processing_details"] or "none" in status["processing_details"]
    assert "results_url" not in status


async def test_a_confirmed_opt_in_lifts_the_opt_out_of_sale(core: PrivacyCore, drp: Drp) -> None:
    await drp.agent.ask(drp.http, "sale:opt-out", **claims())
    core.clock.advance(timedelta(seconds=1))  # type: ignore[attr-defined]
    _, made = await drp.agent.ask(drp.http, "sale:opt-in", **claims())
    buttons = await question_buttons(core)
    outcome = await press(core, buttons["✅ Yes, it was me"])
    assert "opt-out of the sale and sharing" in outcome.replies[-1].text
    async with core.uow() as uow:
        customer = await uow.customers.get(await _ref(core))
    assert not customer.flags.opted_out_sharing
    _, status = await drp.agent.status(drp.http, made["request_id"])
    assert status["status"] == "fulfilled"


async def test_confirmed_categories_are_shown_in_the_chat(core: PrivacyCore, drp: Drp) -> None:
    _, made = await drp.agent.ask(drp.http, "access:categories", **claims())
    buttons = await question_buttons(core)
    outcome = await press(core, buttons["✅ Yes, it was me"])
    assert any(r.text.startswith("What we hold about you") for r in outcome.replies)
    _, status = await drp.agent.status(drp.http, made["request_id"])
    assert status["status"] == "fulfilled"


async def test_a_question_left_unanswered_for_14_days_denies_the_request(
    core: PrivacyCore, drp: Drp
) -> None:
    _, made = await drp.agent.ask(drp.http, "deletion", **claims())
    buttons = await question_buttons(core)
    core.clock.advance(timedelta(days=14, minutes=1))  # type: ignore[attr-defined]
    await run_steps(core, "agent_timeout", end_question)
    _, status = await drp.agent.status(drp.http, made["request_id"])
    assert (status["status"], status["reason"]) == ("denied", "insuf_verification")
    late = await press(core, buttons["✅ Yes, it was me"])
    assert "no longer waiting for your answer" in late.replies[-1].text


async def test_a_press_after_the_agent_revoked_changes_nothing(core: PrivacyCore, drp: Drp) -> None:
    _, made = await drp.agent.ask(drp.http, "deletion", **claims())
    buttons = await question_buttons(core)
    await drp.agent.revoke(drp.http, made["request_id"])
    late = await press(core, buttons["✅ Yes, it was me"])
    assert "no longer waiting for your answer" in late.replies[-1].text
    _, status = await drp.agent.status(drp.http, made["request_id"])
    assert status["status"] == "revoked"


async def test_a_question_for_a_customer_who_blocked_the_bot_is_not_sent(
    core: PrivacyCore, drp: Drp
) -> None:
    ref = await _ref(core)
    async with core.uow() as uow:
        await mark_unreachable(ref, uow)
        await uow.commit()
    _, made = await drp.agent.ask(drp.http, "deletion", **claims())
    assert (made["status"], made["reason"]) == ("denied", "insuf_verification")


async def _ref(core: PrivacyCore) -> str:
    async with core.uow() as uow:
        found = await find_customer(IdentityKind.TELEGRAM, str(USER), uow)
    assert found is not None
    return found.ref


async def test_staff_who_watch_the_queue_are_alerted_when_a_customer_disowns_a_request(
    core: PrivacyCore, drp: Drp
) -> None:
    await staff(core, ADMIN, AUDITOR)
    _, made = await drp.agent.ask(drp.http, "deletion", **claims())
    buttons = await question_buttons(core)
    await press(core, buttons["🚫 No, I did not ask for this"])
    sender = RecordingSender()
    await run_steps(core, "staff_alert", send_staff_alert, Outbound(sender))
    told = {chat: text for chat, text in sender.texts}
    assert set(told) == {ADMIN, AUDITOR}  # both roles may see the queue
    assert made["request_id"] in told[ADMIN]
    assert "TEST_AGENT" in told[ADMIN]


async def test_the_customer_is_told_in_their_chat_of_an_agents_opt_out(
    core: PrivacyCore, drp: Drp
) -> None:
    await drp.agent.ask(drp.http, "sale:opt-out", **claims())
    sender = RecordingSender()
    await run_steps(core, "notify", send_notice, Outbound(sender))
    [(chat, text)] = sender.texts
    assert chat == USER
    assert "TEST_AGENT" in text
    assert "opted you out of the sale and sharing" in text


# --- status callbacks ----------------------------------------------------------------------


@dataclass
class Callbacks:
    url: str
    received: list[tuple[dict[str, Any], str | None]]
    failures: list[int]  # statuses to answer first, in order


@pytest.fixture
async def callbacks() -> AsyncIterator[Callbacks]:
    found = Callbacks("", [], [])

    async def receive(request: web.Request) -> web.Response:
        found.received.append(
            (json.loads(await request.read()), request.headers.get("X-Privacy-Signature"))
        )
        return web.Response(status=found.failures.pop(0) if found.failures else 200)

    app = web.Application()
    app.router.add_post("/status", receive)
    server = TestServer(app)
    await server.start_server()
    found.url = str(server.make_url("/status"))
    try:
        yield found
    finally:
        await server.close()


async def test_status_callbacks_are_retried_until_the_agent_answers(
    core: PrivacyCore, drp: Drp, callbacks: Callbacks, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PRIVACY_WEBHOOK_SECRET", SECRET)
    callbacks.failures[:] = [500, 503]
    _, made = await drp.agent.ask(
        drp.http, "sale:opt-out", status_callback=callbacks.url, **claims()
    )
    for _ in range(3):
        await run_steps(core, "agent_status", post_status)
    assert len(callbacks.received) == 3
    body, signature = callbacks.received[-1]
    assert body == made
    assert signature is not None
    raw = json.dumps(body, sort_keys=True).encode()
    stamp = int(signature.split(",")[0].removeprefix("t="))
    assert signature == sign(callback_key(SECRET) or "", raw, stamp)  # its own key
    assert signature != sign(SECRET, raw, stamp)  # never the shop's own secret
    async with core.uow() as uow:
        states = list(
            await uow.session.scalars(select(JobRow.state).where(JobRow.kind == "agent_status"))
        )
    assert states == ["done"]


async def test_each_change_of_state_is_posted(
    core: PrivacyCore, drp: Drp, callbacks: Callbacks
) -> None:
    _, made = await drp.agent.ask(drp.http, "deletion", status_callback=callbacks.url, **claims())
    await run_steps(core, "agent_status", post_status)
    buttons = await question_buttons(core)
    await press(core, buttons["🚫 No, I did not ask for this"])
    await run_steps(core, "agent_status", post_status)
    seen = [(b["status"], b.get("reason")) for b, _ in callbacks.received]
    assert seen == [("in_progress", "need_user_verification"), ("denied", "suspected_fraud")]
    assert all(b["request_id"] == made["request_id"] for b, _ in callbacks.received)


async def test_a_confirmed_request_runs_on_the_clock_that_started_with_the_agents_call(
    core: PrivacyCore, drp: Drp
) -> None:
    await drp.agent.ask(drp.http, "deletion", **claims())
    sent_at = core.clock.now()
    buttons = await question_buttons(core)
    core.clock.advance(timedelta(days=13))  # type: ignore[attr-defined]
    await press(core, buttons["✅ Yes, it was me"])
    async with core.uow() as uow:
        (request,) = await uow.requests.for_customer(await _ref(core))
        regime = uow.policy.jurisdiction(request.jurisdiction)
    assert request.received_at == sent_at
    assert request.due_at == regime.response_due(sent_at)


async def test_revoking_an_agents_request_leaves_the_customers_own_erasure_alone(
    core: PrivacyCore, drp: Drp
) -> None:
    async with core.uow() as uow:
        own, _ = await request_erasure(RequestErasure(await _ref(core)), uow)
        await uow.commit()
    _, made = await drp.agent.ask(drp.http, "deletion", **claims())
    buttons = await question_buttons(core)
    await press(core, buttons["✅ Yes, it was me"])  # joins the erasure already asked for
    status, revoked = await drp.agent.revoke(drp.http, made["request_id"])
    assert (status, revoked["status"]) == (200, "revoked")
    async with core.uow() as uow:
        still = await uow.requests.get(own.ref)
    assert not still.state.closed  # the customer's own request goes on
