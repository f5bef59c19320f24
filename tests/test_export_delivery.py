"""A copy of the customer's data built in the background is delivered at most once.

The export job commits a "sending" marker before the document leaves. A retry that
finds it, or a send whose answer never came, does not send the document again: the
request is completed as uncertain and the customer is told it may have arrived and
that /export asks for a new one. Telegram's definite refusals are retried as before.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import select

import bot.background.outreach  # (registers the notice handler)
import bot.background.rights_jobs  # noqa: F401  (registers the export handler)
from bot.background.rights_jobs import RightsJobs
from bot.background.worker import Worker
from bot.conversation import EventKind, FlowEngine, Incoming
from bot.outbound import Outbound, OutboundConfig
from bot.render.i18n import Translator
from core.app import PrivacyCore, open_core
from core.domain.customer import IdentityKind
from core.domain.requests import RequestState
from core.services import verify_audit
from core.services.rights.export import (
    DeliveryStart,
    RequestExport,
    request_export,
    start_export_delivery,
)
from core.settings import Settings
from core.storage.tables import JobRow
from tests.fake_telegram import FakeTelegram
from tests.followup_support import commit_fails_once, customer, run_steps
from tests.outbound_support import RecordingSender, real_sender
from tests.rights_helpers import approve, make_jobs_due

ALICE = 7301
ROOT = Path(__file__).resolve().parent.parent
UNCERTAIN_NOTICE = "may already have arrived"


@pytest.fixture
async def shop(settings: Settings, tmp_path: Path) -> AsyncIterator[PrivacyCore]:
    """Exports wait for staff (so each is a background job), one copy an hour."""
    text = (ROOT / "core" / "policy" / "default.toml").read_text(encoding="utf-8")
    text = text.replace(
        'approval_required = ["erasure", "rectification"]',
        'approval_required = ["erasure", "rectification", "portability"]',
    ).replace("export_rate_limit = 3", "export_rate_limit = 1")
    assert '"portability"]' in text, "default.toml changed: update this test"
    assert "export_rate_limit = 1" in text, "default.toml changed: update this test"
    policy = tmp_path / "policy.toml"
    policy.write_text(text, encoding="utf-8")
    core = await open_core(replace(settings, policy_file=policy))
    yield core
    await core.close()


async def approved_export(core: PrivacyCore, user: int = ALICE, language: str = "en") -> str:
    customer_ref = await customer(core, user, follow_up=False)  # has seen the notice
    async with core.uow() as uow:
        found = await uow.customers.get(customer_ref, lock=True)
        found.language = language
        await uow.customers.save(found)
        await uow.commit()
    async with core.uow() as uow:
        request, background = await request_export(RequestExport(customer_ref), uow)
        await uow.commit()
    assert background
    await approve(core, request.ref)
    return request.ref


async def died_mid_send(core: PrivacyCore, request_ref: str) -> None:
    """What a process killed while sending leaves behind: the committed marker."""
    async with core.uow() as uow:
        assert await start_export_delivery(request_ref, uow) is DeliveryStart.SEND
        await uow.commit()


@asynccontextmanager
async def worker(core: PrivacyCore, fake: FakeTelegram) -> AsyncIterator[Worker]:
    async with real_sender("ptb", fake) as sender:
        w = Worker(core, Outbound(sender, OutboundConfig()), poll=0.05)
        w.start()
        try:
            yield w
        finally:
            await w.stop()


async def jobs(core: PrivacyCore, *kinds: str) -> list[JobRow]:
    async with core.uow() as uow:
        rows = list(await uow.session.scalars(select(JobRow).where(JobRow.kind.in_(kinds))))
        uow.session.expunge_all()
        return rows


async def until(
    core: PrivacyCore,
    done: Callable[[list[JobRow]], bool],
    timeout: float = 20.0,  # noqa: ASYNC109
) -> None:
    """Wait until ``done(export and notice jobs)`` holds."""
    async with asyncio.timeout(timeout):
        while not done(await jobs(core, "export", "notify")):
            await asyncio.sleep(0.05)


def settled(rows: list[JobRow]) -> bool:
    return all(j.state in ("done", "failed") for j in rows)


def documents(fake: FakeTelegram, chat: int) -> int:
    return sum("document" in m for m in fake.messages(chat))


def texts(fake: FakeTelegram, chat: int) -> list[str]:
    return [str(m.get("text", "")) for m in fake.messages(chat)]


async def export_audit(
    core: PrivacyCore, request_ref: str
) -> list[tuple[str, str, dict[str, object]]]:
    async with core.uow() as uow:
        customer_ref = (await uow.requests.get(request_ref)).customer_ref
        entries = await uow.audit.about(customer_ref)
        assert (await verify_audit(uow)).ok
    return [
        (e.action, e.outcome, dict(e.details)) for e in entries if e.action.startswith("export.")
    ]


async def state_of(core: PrivacyCore, request_ref: str) -> RequestState:
    async with core.uow() as uow:
        return (await uow.requests.get(request_ref)).state


async def test_export_marked_sending_on_retry_is_not_sent_again_and_the_customer_is_told(
    shop: PrivacyCore, fake_telegram: FakeTelegram
) -> None:
    ref = await approved_export(shop)
    await died_mid_send(shop, ref)
    async with worker(shop, fake_telegram):
        await until(shop, settled)
    assert fake_telegram.calls_to("sendDocument") == []
    assert any(UNCERTAIN_NOTICE in text for text in texts(fake_telegram, ALICE))
    assert await state_of(shop, ref) is RequestState.COMPLETED
    assert await export_audit(shop, ref) == [
        ("export.uncertain", "uncertain", {"request": ref, "reason": "interrupted"})
    ]


async def test_export_whose_send_got_no_answer_is_not_sent_again_and_the_customer_is_told(
    shop: PrivacyCore, fake_telegram: FakeTelegram
) -> None:
    ref = await approved_export(shop)
    fake_telegram.drop_next("sendDocument", after_processing=True)  # arrived; answer lost
    async with worker(shop, fake_telegram):
        await until(shop, settled)
    assert len(fake_telegram.calls_to("sendDocument")) == 1
    assert documents(fake_telegram, ALICE) == 1
    assert any(UNCERTAIN_NOTICE in text for text in texts(fake_telegram, ALICE))
    assert await state_of(shop, ref) is RequestState.COMPLETED
    assert await export_audit(shop, ref) == [
        ("export.uncertain", "uncertain", {"request": ref, "reason": "delivery_unknown"})
    ]


@pytest.mark.parametrize("language", ["zh_Hans", "zh_Hant"])
async def test_uncertain_export_notice_is_in_the_customers_language(
    shop: PrivacyCore, fake_telegram: FakeTelegram, language: str
) -> None:
    ref = await approved_export(shop, language=language)
    await died_mid_send(shop, ref)
    async with worker(shop, fake_telegram):
        await until(shop, settled)
    notice = Translator(language)("rights.notice.export_uncertain", request=ref)
    assert notice != Translator("en")("rights.notice.export_uncertain", request=ref)
    assert "/export" in notice
    assert notice in texts(fake_telegram, ALICE)


@pytest.mark.parametrize("status", [400, 403])
async def test_export_refused_by_telegram_is_retried_as_before(
    shop: PrivacyCore, fake_telegram: FakeTelegram, status: int
) -> None:
    ref = await approved_export(shop)
    fake_telegram.fail_next("sendDocument", status)
    async with worker(shop, fake_telegram):
        # Certainly not delivered: the job goes back for a later attempt, as it always did.
        await until(
            shop,
            lambda rows: any(
                j.kind == "export" and j.attempts >= 1 and j.state == "pending" for j in rows
            ),
        )
        assert documents(fake_telegram, ALICE) == 0
        assert await state_of(shop, ref) is RequestState.IN_PROGRESS
        await make_jobs_due(shop, "export")
        await until(shop, settled)
    assert documents(fake_telegram, ALICE) == 1
    assert not any(UNCERTAIN_NOTICE in text for text in texts(fake_telegram, ALICE))
    assert await state_of(shop, ref) is RequestState.COMPLETED
    assert [action for action, _, _ in await export_audit(shop, ref)] == ["export.delivered"]


async def test_export_refused_because_the_customer_blocked_the_bot_marks_them_unreachable(
    shop: PrivacyCore, fake_telegram: FakeTelegram
) -> None:
    ref = await approved_export(shop)
    fake_telegram.fail_next(
        "sendDocument", 403, description="Forbidden: bot was blocked by the user"
    )
    async with worker(shop, fake_telegram):
        await until(
            shop,
            lambda rows: any(
                j.kind == "export" and j.attempts >= 1 and j.state == "pending" for j in rows
            ),
        )
    async with shop.uow() as uow:
        alice = await uow.customers.find(IdentityKind.TELEGRAM, str(ALICE))
    assert alice is not None
    assert alice.flags.unreachable  # no follow-up or notice goes to her now
    assert await state_of(shop, ref) is RequestState.IN_PROGRESS  # sent if she unblocks


async def test_export_again_after_an_uncertain_one_is_accepted(shop: PrivacyCore) -> None:
    ref = await approved_export(shop)
    await died_mid_send(shop, ref)
    await RightsJobs(shop, Outbound(RecordingSender()), None).run_due(("export",))
    assert await state_of(shop, ref) is RequestState.COMPLETED
    outcome = await FlowEngine(shop).handle(
        Incoming(user_id=ALICE, chat_id=ALICE, kind=EventKind.COMMAND, text="export")
    )
    said = " ".join(reply.text for reply in outcome.replies)
    assert "preparing your copy" in said
    assert "the most I make per hour" not in said
    async with shop.uow() as uow:
        customer_ref = (await uow.requests.get(ref)).customer_ref
        assert len(await uow.requests.for_customer(customer_ref)) == 2


async def test_export_whose_step_died_after_sending_is_not_sent_again_and_is_closed(
    shop: PrivacyCore,
) -> None:
    ref = await approved_export(shop)
    sender = RecordingSender()
    handler = RightsJobs(shop, Outbound(sender), None).handlers()["export"]
    await run_steps(shop, "export", commit_fails_once(handler))
    await run_steps(shop, "export", handler)  # the retry finds the marker
    assert len(sender.documents) == 1
    assert await state_of(shop, ref) is RequestState.COMPLETED
    assert await export_audit(shop, ref) == [
        ("export.uncertain", "uncertain", {"request": ref, "reason": "interrupted"})
    ]
    assert [j.state for j in await jobs(shop, "export")] == ["done"]


async def test_an_export_step_commits_its_marker_then_its_delivery_and_nothing_else(
    shop: PrivacyCore,
) -> None:
    ref = await approved_export(shop)
    sender = RecordingSender()
    [step] = await run_steps(
        shop, "export", RightsJobs(shop, Outbound(sender), None).handlers()["export"]
    )
    assert step.writing == 2  # the "sending" marker, then the delivery with the completion
    assert len(sender.documents) == 1
    assert await state_of(shop, ref) is RequestState.COMPLETED
