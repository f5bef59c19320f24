"""A customer sees what each request is about and cancels one still waiting, with
one tap: audited, gone from the staff's queue, its new value deleted."""

from __future__ import annotations

from sqlalchemy import func, select

from bot.render.i18n import Translator
from core.app import PrivacyCore
from core.domain.requests import RequestState
from core.services.desk.queue import ViewQueue, view_queue
from core.storage.tables import AuditEntryRow, PendingChangeRow
from tests.chat_drivers import ConsoleDriver
from tests.rights_helpers import approve

ALICE = 6101
en = Translator("en")
_LAST = (
    select(AuditEntryRow.action, AuditEntryRow.actor_kind, AuditEntryRow.outcome)
    .order_by(AuditEntryRow.seq.desc())
    .limit(1)
)


async def corrected_email(core: PrivacyCore) -> ConsoleDriver:
    chat = ConsoleDriver(core, ALICE)
    await chat.send("/start")
    await chat.send("/correct")
    await chat.press("Email")
    await chat.send("alice.new@example.com")
    return chat


async def only_request(core: PrivacyCore) -> str:
    async with core.uow() as uow:
        page = await view_queue(ViewQueue(None, size=10), uow)
    [item] = page.items
    return item.request.ref


async def test_requests_name_a_corrections_field(core: PrivacyCore) -> None:
    chat = await corrected_email(core)
    await chat.send("/requests")
    assert "• Correction: email: received" in chat.messages[-1].text


async def test_a_waiting_request_is_cancelled_with_one_tap_and_leaves_the_queue(
    core: PrivacyCore,
) -> None:
    chat = await corrected_email(core)
    ref = await only_request(core)
    await chat.send("/requests")
    [label] = chat.messages[-1].labels()
    assert label.startswith("✖ Cancel Correction: email (")
    await chat.press(label)
    assert chat.messages[-1].text == en(
        "rights.requests.cancelled_change", request=ref, what="Correction: email"
    )
    async with core.uow() as uow:
        assert (await uow.requests.get(ref)).state is RequestState.CANCELLED
        assert (await view_queue(ViewQueue(None), uow)).items == []
        waiting = await uow.session.scalar(select(func.count()).select_from(PendingChangeRow))
        last = (await uow.session.execute(_LAST)).one()
    assert waiting == 0  # the new value the customer sent is deleted
    assert tuple(last) == ("request.cancelled", "customer", "ok")


async def test_a_request_already_under_way_cannot_be_cancelled(core: PrivacyCore) -> None:
    chat = await corrected_email(core)
    ref = await only_request(core)
    await chat.send("/requests")
    [label] = chat.messages[-1].labels()
    await approve(core, ref)  # staff approve before the customer taps
    await chat.press(label)
    assert chat.messages[-1].text == en("error.not_cancellable")
    async with core.uow() as uow:
        assert (await uow.requests.get(ref)).state is RequestState.IN_PROGRESS
        last = (await uow.session.execute(_LAST)).one()
    assert (last.action, last.outcome) == ("request.cancelled", "denied")


async def test_a_finished_request_offers_no_cancel_button(core: PrivacyCore) -> None:
    chat = ConsoleDriver(core, ALICE)
    await chat.send("/start")
    await chat.send("/export")  # access needs no approval: done at once
    await chat.send("/requests")
    assert chat.messages[-1].labels() == []
