"""Data rights end to end, the same scenarios on the console, aiogram and PTB."""

from __future__ import annotations

import asyncio
import io
import json
import re
import zipfile

import aiohttp
import pytest

from bot.background.rights_jobs import RightsJobs
from bot.conversation.events import Reply
from bot.outbound import Outbound
from core.app import PrivacyCore
from core.domain.customer import IdentityKind
from core.domain.requests import RequestState
from core.services import verify_audit
from core.services.rights.erasure import is_suppressed
from tests.chat_drivers import TelegramDriver, find_button
from tests.chat_fixtures import MakeChat, chat_customer
from tests.fake_telegram import FakeTelegram
from tests.keystore_support import file_bytes, wrapped_key
from tests.outbound_support import RecordingSender
from tests.rights_helpers import add_purchases, approve, make_jobs_due

ALICE, BOB = 5101, 5102


class FakeApiSender(RecordingSender):
    """The worker's side of Telegram for these tests: plain Bot API calls to the fake."""

    def __init__(self, fake: FakeTelegram) -> None:
        super().__init__()
        self.fake = fake

    async def send_text(self, chat_id: int, reply: Reply) -> None:
        url = f"{self.fake.api_base}/bot{self.fake.token}/sendMessage"
        async with aiohttp.ClientSession() as http:
            await http.post(url, json={"chat_id": chat_id, "text": reply.text})


async def _customer(core: PrivacyCore, user_id: int, **fields: str) -> str:
    async with core.uow() as uow:
        customer = await chat_customer(user_id, uow)
        assert customer is not None
        for name, value in fields.items():
            setattr(customer, name, value)
        await uow.customers.save(customer)
        await uow.commit()
    return customer.ref


def _unzip(document: tuple[str, bytes] | None) -> dict[str, bytes]:
    assert document is not None
    with zipfile.ZipFile(io.BytesIO(document[1])) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


async def test_export_contains_exactly_this_customers_data(
    make_chat: MakeChat, core: PrivacyCore
) -> None:
    alice, bob = await make_chat(ALICE), await make_chat(BOB)
    if alice.channel == "whatsapp":
        pytest.skip("on WhatsApp the copy is a link: test_whatsapp opens it")
    await alice.send("/start")
    await bob.send("/start")
    alice_ref = await _customer(core, ALICE, name="Alice Wong")
    bob_ref = await _customer(core, BOB, name="Bob Chan", email="bob@example.com")
    await add_purchases(core, alice_ref, ["A-100", "A-101"], item="Jasmine tea")
    await add_purchases(core, bob_ref, ["B-200", "B-201", "B-202"], item="Jasmine tea")
    await alice.send("/export")
    files = _unzip(alice.messages[-1].document)
    data = json.loads(files["data.json"])
    assert sorted(files) == ["consent-records.jsonld", "data.json", "index.html"]
    assert [p["order_id"] for p in data["purchases"]] == ["A-100", "A-101"]
    assert data["customer"]["name"] == "Alice Wong"
    assert {i["value"] for i in data["identities"]} == {str(ALICE)}
    assert {e["action"] for e in data["audit"]} >= {"customer.registered", "request.opened"}
    everything = b"".join(files.values())
    for foreign in (b"Bob Chan", b"bob@example.com", b"B-200", bob_ref.encode()):
        assert foreign not in everything
    # Bob's Telegram id as a value of its own (random hex refs may contain its digits).
    assert not re.search(rb"(?<![0-9a-f])%d(?![0-9a-f])" % BOB, everything)
    assert "Alice Wong" in files["index.html"].decode()


async def test_erasure_leaves_nothing_readable_and_suppresses_the_contacts(
    make_chat: MakeChat, core: PrivacyCore, fake_telegram: FakeTelegram
) -> None:
    alice = await make_chat(ALICE)
    if alice.channel == "whatsapp":
        pytest.skip("reads Telegram's fake: test_whatsapp erases on WhatsApp")
    await alice.send("/start")
    ref = await _customer(
        core, ALICE, name="Alice Wong", email="alice.wong@example.com", address="1 Queen's Road"
    )
    await add_purchases(core, ref, ["E-1", "E-2"])
    wrapped = await wrapped_key(core, ref)
    assert wrapped is not None
    await alice.send("/delete")
    msg, confirm = find_button(alice.messages, "Yes, erase my data")
    await alice.press_raw(confirm, msg.id)
    await alice.press_raw(confirm, msg.id)  # pressed twice: one request, a clear answer
    assert "already under way" in alice.messages[-1].text
    async with core.uow() as uow:
        (request,) = await uow.requests.for_customer(ref)
    await approve(core, request.ref)
    sender = (
        FakeApiSender(fake_telegram) if isinstance(alice, TelegramDriver) else RecordingSender()
    )
    await _erased(core, RightsJobs(core, Outbound(sender), None), request.ref)
    async with core.uow() as uow:
        assert not await uow.customers.exists(ref)
        assert await is_suppressed(IdentityKind.TELEGRAM, str(ALICE), uow)
        assert await is_suppressed(IdentityKind.EMAIL, "alice.wong@example.com", uow)
        assert (await verify_audit(uow)).ok
    if isinstance(alice, TelegramDriver):
        await fake_telegram.wait_for("sendMessage", lambda c: "being erased" in str(c.params))
    if core.db.is_sqlite:
        raw = file_bytes(core)
        for secret in (b"Alice Wong", b"alice.wong@example.com", b"Queen's Road", wrapped):
            assert secret not in raw


async def _erased(core: PrivacyCore, jobs: RightsJobs, request_ref: str) -> None:
    """Run the erasure job here, or wait for the bot's own worker that claimed it first."""
    async with asyncio.timeout(30):
        while True:
            # The bot's worker may have looked just before the approval and put the
            # job back for its next check in two minutes: make it due now.
            await make_jobs_due(core, "erasure")
            await jobs.run_due(("erasure",))
            async with core.uow() as uow:
                if (await uow.requests.get(request_ref)).state is RequestState.COMPLETED:
                    return
            await asyncio.sleep(0.1)


async def test_a_second_delete_while_one_runs_changes_nothing(
    make_chat: MakeChat, core: PrivacyCore
) -> None:
    alice = await make_chat(ALICE)
    await alice.send("/start")
    await alice.send("/delete")
    await alice.press("Yes, erase my data")
    await alice.send("/delete")
    assert "already under way" in alice.messages[-1].text
    ref = await _customer(core, ALICE)
    async with core.uow() as uow:
        assert len(await uow.requests.for_customer(ref)) == 1


async def test_a_shared_contact_that_is_not_the_senders_is_refused(
    make_chat: MakeChat, core: PrivacyCore
) -> None:
    alice = await make_chat(ALICE)
    await alice.send("/start")
    await alice.send("/correct")
    await alice.press("Phone")
    await alice.share_contact("+85291234567", contact_user_id=424242)
    assert "not your own" in alice.messages[-1].text
    ref = await _customer(core, ALICE)
    async with core.uow() as uow:
        assert (await uow.customers.get(ref)).phone is None
