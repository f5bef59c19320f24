"""Incident response: a personal-data breach recorded, assessed and told to every
affected customer in their chat, once, in their language; the regulators' clocks per
regime; the report for the authority; the desk invisible to everyone but admins."""

from __future__ import annotations

import argparse
import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.cli.incident import incident_command
from bot.render.i18n import Translator
from core.app import PrivacyCore
from core.clock import FixedClock
from core.domain.incident import Audience, Incident, Risk, breach_clocks
from core.domain.policy import load_policy
from core.errors import InvalidTransition
from core.services import SYSTEM, AddStaff, add_staff
from core.services.incidents import (
    AssessIncident,
    NotifyIncident,
    OpenIncident,
    ViewIncident,
    assess_incident,
    notify_incident,
    open_incident,
    view_incident,
)
from core.storage.tables import AuditEntryRow, IncidentNoticeRow, IncidentRow
from tests.chat_drivers import ConsoleDriver
from tests.fake_telegram import FakeTelegram
from tests.followup_support import jobs
from tests.rights_helpers import erase, telegram_customer
from tests.test_followups import buttons, press, worker

ADMIN, AGENT = 8201, 8202
NOV = datetime(2026, 11, 15, 3, 0, tzinfo=UTC)
DEC = datetime(2026, 12, 5, 3, 0, tzinfo=UTC)
AWARE = datetime(2026, 12, 2, 1, 0, tzinfo=UTC)
en = Translator("en")


@pytest.fixture
async def clock(core: PrivacyCore) -> FixedClock:
    fixed = FixedClock(NOV)
    core.clock = fixed
    async with core.uow() as uow:
        await add_staff(AddStaff(ADMIN, "admin", SYSTEM), uow)
        await add_staff(AddStaff(AGENT, "agent", SYSTEM), uow)
        await uow.commit()
    return fixed


async def shopper(core: PrivacyCore, user_id: int, language: str = "en", **fields: str) -> str:
    return await telegram_customer(core, user_id, language=language, **fields)


async def contact_breach(core: PrivacyCore, *, risk: str = "high") -> str:
    """Contact data held in November leaked; noticed on 2 December."""
    async with core.uow() as uow:
        opened = await open_incident(
            OpenIncident(
                None,
                AWARE,
                ("contact",),
                "backup copy of the CRM export found on a public file share",
                datetime(2026, 11, 1, tzinfo=UTC),
                datetime(2026, 11, 30, 16, 0, tzinfo=UTC),
            ),
            uow,
        )
        await assess_incident(
            AssessIncident(None, opened.ref, risk, ("contained", "passwords_reset")), uow
        )
        await uow.commit()
    return opened.ref


async def notify(core: PrivacyCore, ref: str) -> int:
    async with core.uow() as uow:
        queued = await notify_incident(NotifyIncident(None, ref), uow)
        await uow.commit()
    return queued


async def sent_out(core: PrivacyCore, fake: FakeTelegram) -> None:
    async with worker(core, fake):
        for _ in range(400):
            states = {j.state for j in await jobs(core, "incident_notice")}
            if not states & {"pending", "running"}:
                return
            await asyncio.sleep(0.05)
    raise AssertionError("incident notices did not settle")


@pytest.fixture
async def told(core: PrivacyCore, clock: FixedClock, fake_telegram: FakeTelegram) -> dict[str, int]:
    """Three customers with contact data in November (three languages), one without
    contact data, one who joined in December; the incident told."""
    users = {"en": 9101, "zh_Hans": 9102, "zh_Hant": 9103}
    for language, user in users.items():
        await shopper(core, user, language, email=f"{user}@example.com")
    await shopper(core, 9104)  # no contact data
    clock.advance(DEC - NOV)  # joined after the window
    await shopper(core, 9105, email="late@example.com")
    ref = await contact_breach(core)
    assert await notify(core, ref) == 3
    await sent_out(core, fake_telegram)
    return {**users, "ref": ref}  # type: ignore[dict-item]


async def test_each_affected_customer_is_told_once_in_their_language(
    core: PrivacyCore, fake_telegram: FakeTelegram, told: dict[str, int]
) -> None:
    for language in ("en", "zh_Hans", "zh_Hant"):
        [message] = fake_telegram.messages(told[language])
        t = Translator(language)
        assert t("incident.notice.title") in message["text"]
        assert t("rights.category.contact") in message["text"]
        assert t("incident.measure.passwords_reset") in message["text"]
        assert "privacy@shop.example" in message["text"]


async def test_customers_outside_the_category_or_the_window_get_nothing(
    core: PrivacyCore, fake_telegram: FakeTelegram, told: dict[str, int]
) -> None:
    assert fake_telegram.messages(9104) == []
    assert fake_telegram.messages(9105) == []


async def test_the_staff_summary_is_never_sent_to_customers(
    core: PrivacyCore, fake_telegram: FakeTelegram, told: dict[str, int]
) -> None:
    [message] = fake_telegram.messages(told["en"])
    assert "CRM export" not in message["text"]


async def test_the_summary_is_encrypted_at_rest_and_absent_from_the_audit(
    core: PrivacyCore, told: dict[str, int]
) -> None:
    async with core.uow() as uow:
        [blob] = (await uow.session.scalars(select(IncidentRow.summary_enc))).all()
        details = (await uow.session.scalars(select(AuditEntryRow.details))).all()
    assert b"CRM" not in blob
    assert not any("CRM" in (d or "") for d in details)


async def test_the_notice_offers_my_data_consent_and_erasure(
    core: PrivacyCore, fake_telegram: FakeTelegram, told: dict[str, int]
) -> None:
    [message] = fake_telegram.messages(told["en"])
    markup = message["reply_markup"]
    labels = [b["text"] for row in markup["inline_keyboard"] for b in row]  # type: ignore[index]
    assert labels == ["🔍 See my data", "⚙️ Change my consent", "🗑 Erase my data"]
    see = next(d for d in buttons(message) if d.endswith("|iv|mydata"))
    texts = await press(core, told["en"], see)
    assert any("How to reach you" in text for text in texts)  # /mydata's categories


async def test_an_incident_is_told_at_most_once_per_customer(
    core: PrivacyCore, fake_telegram: FakeTelegram, told: dict[str, int]
) -> None:
    async with core.uow() as uow:
        with pytest.raises(InvalidTransition):
            await notify_incident(NotifyIncident(None, str(told["ref"])), uow)
    assert len(await jobs(core, "incident_notice")) == 3


async def test_an_erased_customer_is_counted_and_not_messaged(
    core: PrivacyCore, clock: FixedClock, fake_telegram: FakeTelegram
) -> None:
    kept = await shopper(core, 9201, email="kept@example.com")
    gone = await shopper(core, 9202, email="gone@example.com")
    clock.advance(DEC - NOV)
    await erase(core, gone)
    ref = await contact_breach(core)
    async with core.uow() as uow:
        view = await view_incident(ViewIncident(None, ref), uow)
    assert sum(view.affected.values()) == 1
    assert sum(view.erased.values()) == 1
    assert await notify(core, ref) == 1
    await sent_out(core, fake_telegram)
    assert len(fake_telegram.messages(9201)) == 1
    assert fake_telegram.messages(9202) == []
    assert kept


def test_clocks_follow_each_affected_customers_regime() -> None:
    policy = load_policy()
    incident = Incident("i1", AWARE, AWARE, ("contact",), "x", risk=Risk.HIGH)
    counts = {"gdpr": 2, "pipl": 1, "ccpa": 12, "pdpo": 3}
    clocks = {
        (c.regime, c.audience): c for c in breach_clocks(incident, counts, policy.jurisdictions)
    }
    assert clocks[("gdpr", Audience.AUTHORITY)].due_at == AWARE + timedelta(hours=72)
    assert clocks[("pipl", Audience.INDIVIDUALS)].due_at == AWARE + timedelta(hours=24)
    assert clocks[("pdpo", Audience.AUTHORITY)].customers == 3
    assert all(c.applies for key, c in clocks.items() if key[0] != "ccpa")


def test_californias_attorney_general_is_told_only_above_500_residents() -> None:
    policy = load_policy()
    incident = Incident("i1", AWARE, AWARE, ("contact",), "x", risk=Risk.HIGH)

    def ag(n: int) -> bool:
        clocks = breach_clocks(incident, {"ccpa": n}, policy.jurisdictions)
        return next(c for c in clocks if c.audience is Audience.AUTHORITY).applies

    assert ag(500) is False
    assert ag(501) is True


def test_gdpr_tells_the_people_only_when_the_risk_is_high() -> None:
    policy = load_policy()
    low = Incident("i1", AWARE, AWARE, ("contact",), "x", risk=Risk.LOW)
    clocks = breach_clocks(low, {"gdpr": 4}, policy.jurisdictions)
    individuals = next(c for c in clocks if c.audience is Audience.INDIVIDUALS)
    authority = next(c for c in clocks if c.audience is Audience.AUTHORITY)
    assert (individuals.applies, authority.applies) == (False, True)


async def test_an_agent_gets_the_unknown_command_answer_and_an_audited_denial(
    core: PrivacyCore, clock: FixedClock
) -> None:
    agent, control = ConsoleDriver(core, AGENT), ConsoleDriver(core, 9301)
    await agent.send("/incident list")
    await control.send("/incident list")
    assert agent.messages[-1].text == control.messages[-1].text
    async with core.uow() as uow:
        denied = (
            await uow.session.execute(
                select(AuditEntryRow.action, AuditEntryRow.outcome).where(
                    AuditEntryRow.outcome == "denied"
                )
            )
        ).all()
    assert ("desk.incident", "denied") in [tuple(d) for d in denied]


async def test_an_admin_runs_the_whole_incident_from_the_chat(
    core: PrivacyCore, clock: FixedClock
) -> None:
    await shopper(core, 9401, "zh_Hant", email="a@example.com")
    clock.advance(DEC - NOV)
    chat = ConsoleDriver(core, ADMIN)
    await chat.send("/incident open contact 2026-11-01 2026-11-30")
    assert chat.messages[-1].text == en("incident.staff.ask_summary")
    await chat.send("A laptop with a customer list was stolen")
    shown = chat.messages[-1].text
    assert "1 customer(s) to tell" in shown
    assert "tell the authority within 120 h" in shown  # PDPO, the default regime
    ref = shown.split()[1].rstrip(":")
    await chat.send(f"/incident assess {ref} high contained,police_informed")
    await chat.send(f"/incident notify {ref}")
    assert "繁體中文 1" in chat.messages[-1].text
    await chat.press("📣 Send the notices")
    assert chat.messages[-1].text == en("incident.staff.notified", ref=ref, customers=1)
    async with core.uow() as uow:
        [state] = (await uow.session.scalars(select(IncidentNoticeRow.state))).all()
    assert state == "queued"


async def test_notifying_before_assessing_is_refused_and_audited(
    core: PrivacyCore, clock: FixedClock
) -> None:
    clock.advance(DEC - NOV)
    async with core.uow() as uow:
        opened = await open_incident(OpenIncident(None, AWARE, ("contact",), "leak"), uow)
        await uow.commit()
    chat = ConsoleDriver(core, ADMIN)
    await chat.send(f"/incident notify {opened.ref}")
    await chat.press("📣 Send the notices")
    assert chat.messages[-1].text == en("staff.error.not_assessed")
    async with core.uow() as uow:
        outcome = await uow.session.scalar(
            select(AuditEntryRow.outcome).where(AuditEntryRow.action == "incident.notified")
        )
    assert outcome == "denied"


async def test_the_cli_writes_a_report_with_each_clock_met_or_missed(
    core: PrivacyCore, clock: FixedClock, fake_telegram: FakeTelegram, tmp_path: Path
) -> None:
    await shopper(core, 9501, email="r@example.com")
    clock.advance(DEC - NOV)
    ref = await contact_breach(core)
    await notify(core, ref)
    await sent_out(core, fake_telegram)
    args = argparse.Namespace(action="report", incident_id=ref, out=str(tmp_path))
    assert await incident_command(args, core) == 0
    data = json.loads((tmp_path / f"incident-{ref}.json").read_text("utf-8"))
    assert data["notices"]["sent"] == 1
    assert data["affected"]["by_regime"] == {"pdpo": 1}
    [authority, individuals] = data["clocks"]
    assert individuals["met"] is True  # told on 5 December; PDPO's 120 h end on 7 December
    assert authority["met"] is None  # not told yet, and still running
    html = (tmp_path / f"incident-{ref}.html").read_text("utf-8")
    assert "Personal-data breach" in html


async def test_stats_show_incidents_and_on_time_notification(
    core: PrivacyCore, told: dict[str, int]
) -> None:
    chat = ConsoleDriver(core, ADMIN)
    await chat.send("/stats")
    shown = "\n".join(m.text for m in chat.messages)
    assert en("staff.stats.incidents", incidents=1, notified=1, on_time=1) in shown


async def test_an_admin_gets_the_report_in_the_chat_as_two_files(
    core: PrivacyCore, clock: FixedClock
) -> None:
    await shopper(core, 9601, email="z@example.com")
    clock.advance(DEC - NOV)
    ref = await contact_breach(core)
    chat = ConsoleDriver(core, ADMIN)
    await chat.send(f"/incident report {ref}")
    files = {m.document[0]: m.document[1] for m in chat.messages if m.document}
    assert sorted(files) == [f"incident-{ref}.html", f"incident-{ref}.json"]
    assert json.loads(files[f"incident-{ref}.json"])["affected"]["customers"] == 1
