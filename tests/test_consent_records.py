"""The consent ledger as ISO/IEC TS 27560 records with DPV terms (issue 17, part 1):
one record per decision, self-contained JSON-LD, in the customer's export and, for an
audit, from ``privacy-bot consent export``."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pyld import jsonld

from bot.cli.consent import consent_export_command
from bot.render.consent_records import consent_record
from bot.render.export import CONSENT_RECORDS, build_export
from bot.render.i18n import Translator
from core.app import PrivacyCore
from core.clock import FixedClock
from core.domain.consent import record_statuses
from core.domain.policy import DEFAULT_POLICY_PATH, load_policy
from core.services import DecideConsent, MarkNoticeSeen, decide_consent, mark_notice_seen
from tests.chat_drivers import ConsoleDriver, find_button
from tests.chat_fixtures import MakeChat
from tests.followup_support import NOON_HK
from tests.rights_helpers import telegram_customer

DPV = "https://w3id.org/dpv#"
en, hk = Translator("en"), Translator("zh_Hant")
ALICE, BOB = 7401, 7402


def no_fetching(url: str, options: dict[str, Any]) -> dict[str, Any]:
    raise AssertionError(f"a record must expand offline, but {url} was fetched")


async def decide(core: PrivacyCore, ref: str, purpose: str, *gives: bool) -> None:
    assert isinstance(core.clock, FixedClock)
    for give in gives:
        async with core.uow() as uow:
            await decide_consent(DecideConsent(ref, purpose, give), uow)
            await uow.commit()
        core.clock.advance(timedelta(minutes=1))


@pytest.fixture
async def alice(core: PrivacyCore) -> str:
    core.clock = FixedClock(NOON_HK)
    ref = await telegram_customer(core, ALICE, name="Alice Wong")
    async with core.uow() as uow:
        await mark_notice_seen(MarkNoticeSeen(ref), uow)
        await uow.commit()
    await decide(core, ref, "marketing", True, False, True)
    await decide(core, ref, "analytics", False)
    return ref


async def ledger_records(core: PrivacyCore, ref: str) -> list[dict[str, Any]]:
    built = await build_export(core, ref)
    with zipfile.ZipFile(io.BytesIO(built.content)) as archive:
        return list(json.loads(archive.read(CONSENT_RECORDS)))


def status(record: dict[str, Any]) -> str:
    return str(record["dpv:hasConsentStatus"]["@id"])


def test_the_shipped_policy_maps_every_purpose_to_a_dpv_purpose() -> None:
    policy = load_policy(DEFAULT_POLICY_PATH)
    assert all(p.dpv_purpose for p in policy.purposes)
    assert policy.purpose("marketing").dpv_purpose == "DirectMarketing"


async def test_each_decision_gets_the_dpv_state_it_stands_for(
    core: PrivacyCore, alice: str
) -> None:
    records = await ledger_records(core, alice)
    by_purpose = {
        p: [status(r) for r in records if r["dpv:hasPurpose"]["@id"] == f"pb:purpose/{p}"]
        for p in ("marketing", "analytics")
    }
    assert by_purpose == {
        "marketing": ["dpv:ConsentGiven", "dpv:ConsentWithdrawn", "dpv:RenewedConsentGiven"],
        "analytics": ["dpv:ConsentRefused"],
    }


async def test_a_record_expands_offline_to_dpv_terms(core: PrivacyCore, alice: str) -> None:
    [record, *_] = [
        r
        for r in await ledger_records(core, alice)
        if r["dpv:hasPurpose"]["@id"].endswith("marketing")
    ]
    [expanded] = jsonld.expand(record, {"documentLoader": no_fetching})
    assert expanded["@type"] == [f"{DPV}ConsentRecord"]
    assert expanded[f"{DPV}hasConsentStatus"] == [{"@id": f"{DPV}ConsentGiven"}]
    assert expanded[f"{DPV}hasPurpose"][0]["@type"] == [f"{DPV}DirectMarketing"]
    assert expanded["http://purl.org/dc/terms/conformsTo"] == [
        {"@id": "https://w3id.org/dpv/schema/dpv-27560"}
    ]


async def test_the_record_names_the_subject_by_pseudonym_never_by_name(
    core: PrivacyCore, alice: str
) -> None:
    records = await ledger_records(core, alice)
    assert len(records) == 4  # the whole ledger
    assert {r["dpv:hasDataSubject"]["@id"] for r in records} == {f"pb:customer/{alice}"}
    assert "Alice" not in json.dumps(records)
    assert records[0]["dpv:hasDataController"]["dct:title"] == "Example Tea Shop Ltd"


async def test_the_same_decision_always_gets_the_same_record_id(
    core: PrivacyCore, alice: str
) -> None:
    first, second = await ledger_records(core, alice), await ledger_records(core, alice)
    assert [r["@id"] for r in first] == [r["@id"] for r in second]


def test_states_walk_each_customer_and_purpose_on_its_own() -> None:
    # A refusal by one customer says nothing about the next one's first "given".
    from tests.test_consent_records_support import entries

    states = [s.value for _, s in record_statuses(entries())]
    assert states == ["ConsentRefused", "ConsentGiven", "ConsentGiven", "ConsentWithdrawn"]


# --- privacy-bot consent export --------------------------------------------------------


async def test_the_cli_exports_every_decision_as_a_json_ld_array(
    core: PrivacyCore, alice: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "records.jsonld"
    assert await consent_export_command(str(out), "27560", None, None, core) == 0
    records = json.loads(out.read_text("utf-8"))
    assert [status(r) for r in records] == [
        "dpv:ConsentRefused",
        "dpv:ConsentGiven",
        "dpv:ConsentWithdrawn",
        "dpv:RenewedConsentGiven",
    ]
    assert "4 consent record(s) written" in capsys.readouterr().out


async def test_the_cli_exports_one_purpose_as_csv_since_a_day(
    core: PrivacyCore, alice: str, tmp_path: Path
) -> None:
    out = tmp_path / "records.csv"
    since = NOON_HK.date().isoformat()
    assert await consent_export_command(str(out), "csv", "marketing", since, core) == 0
    rows = list(csv.DictReader(out.read_text("utf-8").splitlines()))
    assert [(r["purpose"], r["status"]) for r in rows] == [
        ("marketing", "ConsentGiven"),
        ("marketing", "ConsentWithdrawn"),
        ("marketing", "RenewedConsentGiven"),
    ]
    assert rows[0]["dpv_purpose"] == "dpv:DirectMarketing"


async def test_the_export_is_audited_without_its_content(
    core: PrivacyCore, alice: str, tmp_path: Path
) -> None:
    await consent_export_command(str(tmp_path / "r.jsonld"), "27560", None, None, core)
    async with core.uow() as uow:
        entries = [e async for e in uow.audit.stream() if e.action == "consent.exported"]
    assert [(e.actor_kind, e.details) for e in entries] == [
        ("cli", {"format": "27560", "records": 4, "purpose": "all"})
    ]


@pytest.mark.parametrize(
    ("purpose", "since", "says"),
    [("nosuch", None, "no purpose 'nosuch'"), (None, "yesterday", "--since: expected a date")],
)
async def test_bad_arguments_get_one_sentence_and_exit_2(
    core: PrivacyCore,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    purpose: str | None,
    since: str | None,
    says: str,
) -> None:
    out = tmp_path / "r.jsonld"
    assert await consent_export_command(str(out), "27560", purpose, since, core) == 2
    assert says in capsys.readouterr().err
    assert not out.exists()


async def test_a_folder_that_cannot_be_written_gets_one_sentence_and_exit_2(
    core: PrivacyCore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    not_a_folder = tmp_path / "notes.txt"
    not_a_folder.write_text("a file, not a folder")  # refused even to root, unlike chmod
    code = await consent_export_command(str(not_a_folder / "r.jsonld"), "27560", None, None, core)
    assert code == 2
    assert capsys.readouterr().err.startswith("privacy-bot: error: cannot write")


def test_a_record_of_a_purpose_since_taken_out_of_the_policy_still_renders() -> None:
    from tests.test_consent_records_support import entries

    entry = next(iter(entries()))
    gone = type(entry)(**{**entry.__dict__, "purpose": "retired_purpose"})
    policy = load_policy(DEFAULT_POLICY_PATH)
    record = consent_record(gone, next(iter(record_statuses([gone])))[1], policy)
    assert record["dpv:hasPurpose"] == {"@id": "pb:purpose/retired_purpose"}


# --- the receipt offers the record as a file -------------------------------------------


async def test_a_receipt_offers_its_record_as_a_file_in_the_chat(
    make_chat_here_and_on_telegram: MakeChat, core: PrivacyCore
) -> None:
    chat = await make_chat_here_and_on_telegram(ALICE, "zh-hk")
    await chat.send("/start")
    await chat.press(f"☐ {hk('purpose.marketing.title')}")
    await chat.press(hk("consent.receipt.as_file"))
    sent = chat.messages[-1]
    assert sent.document is not None
    name, content = sent.document
    record = json.loads(content)
    assert name.startswith("consent-record-marketing-")
    assert name.endswith(".jsonld")
    assert status(record) == "dpv:ConsentGiven"
    assert record["dct:language"] == "zh-Hant-HK"


async def test_a_record_button_for_someone_elses_decision_is_refused(core: PrivacyCore) -> None:
    bob = ConsoleDriver(core, BOB)
    await bob.send("/start")
    await bob.press("☐ Offers and news")
    _, bobs = find_button(bob.messages, en("consent.receipt.as_file"))
    alice = ConsoleDriver(core, ALICE)
    await alice.send("/start")
    await alice.press("☐ Offers and news")
    _, hers = find_button(alice.messages, en("consent.receipt.as_file"))
    token = hers.split("|")[0]
    count = len(alice.messages)
    await alice.press_raw(f"{token}|cr|{bobs.split('|')[2]}", None)  # her token, his record
    assert alice.notice == en("button.expired")
    assert all(m.document is None for m in alice.messages[count:])
