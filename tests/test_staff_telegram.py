"""The staff desk over the fake Telegram server, on aiogram and on python-telegram-bot.

A representative subset of test_staff_desk.py (which covers the whole role matrix on
the console), plus what only Telegram has: per-chat command menus, photos, digests
sent through the framework.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from bot.background.staff_tasks import send_digest
from bot.conversation import FlowEngine
from bot.render.i18n import Translator
from bot.runner import make_adapter
from core.app import PrivacyCore
from core.domain.requests import RequestKind, RequestState
from tests.chat_drivers import TelegramDriver, hook_deliver
from tests.fake_telegram import FakeTelegram
from tests.test_staff_desk import (
    ADMIN,
    AGENT,
    NAME,
    NOBODY,
    audit_entries,
    customer,
    notice,
    png_size,
    reason_of,
    request,
    staff,
    stored,
)

en = Translator("en")


@pytest.fixture
async def desk(
    framework: str, core: PrivacyCore, fake_telegram: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[dict[int, TelegramDriver]]:
    """One running bot; a chat for the admin, the agent and a non-member."""
    await staff(core, ADMIN, AGENT)
    processed = hook_deliver(monkeypatch, framework)
    chats = {
        who: TelegramDriver(core, fake_telegram, framework, processed, who)
        for who in (ADMIN, AGENT, NOBODY)
    }
    await chats[ADMIN].start()
    yield chats
    await chats[ADMIN].close()


def scoped_menus(fake: FakeTelegram) -> dict[int, list[str]]:
    return {
        int(call.params["scope"]["chat_id"]): [c["command"] for c in call.params["commands"]]
        for call in fake.calls_to("setMyCommands")
        if (call.params.get("scope") or {}).get("type") == "chat"
    }


async def test_staff_get_a_private_menu_and_customers_never_see_the_desk(
    desk: dict[int, TelegramDriver], fake_telegram: FakeTelegram
) -> None:
    async with asyncio.timeout(10):
        while len(scoped_menus(fake_telegram)) < 2:
            await asyncio.sleep(0.02)
    menus = scoped_menus(fake_telegram)
    assert {"queue", "lookup", "retention", "audit"} <= set(menus[ADMIN])
    assert "retention" not in menus[AGENT]
    assert "audit" not in menus[AGENT]
    assert "start" in menus[AGENT]
    default = [
        c["command"]
        for call in fake_telegram.calls_to("setMyCommands")
        if not call.params.get("scope")
        for c in call.params["commands"]
    ]
    assert not {"queue", "request", "lookup", "audit", "stats", "retention"} & set(default)


async def test_a_non_member_and_an_unknown_command_get_the_same_reply(
    desk: dict[int, TelegramDriver],
) -> None:
    stranger = desk[NOBODY]
    await stranger.send("/start")
    await stranger.send("/queue")
    await stranger.send("/nosuchcommand")
    assert stranger.messages[-1].text == stranger.messages[-2].text


async def test_an_agent_trying_an_admin_command_is_refused_and_audited(
    desk: dict[int, TelegramDriver], core: PrivacyCore
) -> None:
    await desk[AGENT].send("/retention")
    assert desk[AGENT].messages[-1].text == en("staff.error.permission_denied")
    denied = [(e.action, e.outcome) for e in await audit_entries(core) if e.outcome == "denied"]
    assert denied == [("desk.retention", "denied")]


async def test_approve_over_telegram_changes_state_notifies_and_audits(
    desk: dict[int, TelegramDriver], core: PrivacyCore
) -> None:
    opened = await request(core, RequestKind.RECTIFICATION)  # one approval is enough
    await desk[AGENT].send(f"/request {opened.ref}")
    await desk[AGENT].press("Approve")
    assert (await stored(core, opened.ref)).state is RequestState.IN_PROGRESS
    assert await notice(core, f"approved:{opened.ref}") is not None
    assert "request.in_progress" in [e.action for e in await audit_entries(core)]


async def test_reject_over_telegram_takes_the_reason_from_the_next_message(
    desk: dict[int, TelegramDriver], core: PrivacyCore
) -> None:
    opened = await request(core)
    await desk[AGENT].send(f"/request {opened.ref}")
    await desk[AGENT].press("Reject")
    await desk[AGENT].send("duplicate of an earlier request")
    assert (await stored(core, opened.ref)).state is RequestState.REJECTED
    told = await notice(core, f"rejected:{opened.ref}")
    assert told is not None
    sealed = str(told["params"]["reason"])  # type: ignore[index]
    assert await reason_of(core, sealed, opened.customer_ref) == "duplicate of an earlier request"


async def test_look_up_is_masked_and_an_admin_reveals_with_the_reason_audited(
    desk: dict[int, TelegramDriver], core: PrivacyCore
) -> None:
    await customer(core)
    await desk[AGENT].send("/lookup +852 9123 4567 order enquiry")
    assert "+852 9***4567" in desk[AGENT].messages[-1].text
    assert desk[AGENT].messages[-1].buttons == []
    await desk[ADMIN].send("/lookup +852 9123 4567 identity check")
    await desk[ADMIN].press("Reveal")
    assert NAME in desk[ADMIN].messages[-1].text
    [reveal] = [e for e in await audit_entries(core) if e.action == "staff.reveal"]
    assert await reason_of(core, reveal.details["reason"], reveal.subject_ref) == "identity check"


async def test_stats_send_a_decodable_png(
    desk: dict[int, TelegramDriver], core: PrivacyCore, fake_telegram: FakeTelegram
) -> None:
    await request(core)
    await desk[AGENT].send("/stats")
    photo = fake_telegram.calls_to("sendPhoto")[-1]
    data = photo.files["photo"][1]
    width, height = png_size(data)
    assert width > 0
    assert height > 0
    assert "<5" in desk[AGENT].messages[-1].text


async def test_the_digest_reaches_staff_chats_with_exactly_the_due_requests(
    framework: str, core: PrivacyCore, fake_telegram: FakeTelegram
) -> None:
    await staff(core, ADMIN)
    overdue = await request(core, due_in=timedelta(days=-1))
    soon = await request(core, due_in=timedelta(days=1))
    later = await request(core, due_in=timedelta(days=9))
    adapter = make_adapter(framework, FlowEngine(core), fake_telegram.token, fake_telegram.api_base)
    try:
        assert await send_digest(core, adapter.outbound) == 1
    finally:
        await adapter.close()
    text = fake_telegram.sent_to(ADMIN)[-1].params["text"]
    assert overdue.ref in text
    assert soon.ref in text
    assert later.ref not in text
