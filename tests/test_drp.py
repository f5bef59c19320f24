"""The Data Rights Protocol 1.0, Covered Business side: an agent written from the
specification pairs, exercises, polls and revokes; the envelope is checked in order."""

from __future__ import annotations

import base64
import dataclasses
import json
from datetime import timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select

from core.app import PrivacyCore
from core.services import audit_tail
from core.storage.tables import AgentRequestRow, AgentTokenRow, JobRow
from tests.drp_support import (
    EMAIL,
    NAME,
    PHONE,
    Drp,
    agent_rows,
    claims,
    customer_with_contacts,
    drp_server,
)
from tests.followup_support import freeze


@pytest.fixture
async def drp(core: PrivacyCore) -> Any:
    freeze(core)
    async with drp_server(core) as found:
        yield found


async def paired(drp: Drp) -> Drp:
    status, _ = await drp.agent.pair(drp.http)
    assert status == 200
    return drp


# --- pairing --------------------------------------------------------------------------


async def test_an_agent_pairs_and_its_token_checks_out(drp: Drp) -> None:
    status, answer = await drp.agent.pair(drp.http)
    assert status == 200
    assert answer["agent-id"] == "TEST_AGENT"
    assert await drp.agent.check(drp.http) == (200, {})


async def test_the_token_is_stored_only_as_a_keyed_hash(core: PrivacyCore, drp: Drp) -> None:
    await paired(drp)
    async with core.uow() as uow:
        stored = await uow.session.scalar(select(AgentTokenRow.token_hash))
    assert stored is not None
    assert drp.agent.token is not None
    assert drp.agent.token not in stored


async def test_pairing_signed_with_another_key_is_403_with_an_empty_body(drp: Drp) -> None:
    forged = drp.agent.sign(drp.agent.envelope(), key=Ed25519PrivateKey.generate())
    assert await drp.agent.pair(drp.http, forged) == (403, None)


async def test_pairing_for_an_agent_the_message_does_not_name_is_403(drp: Drp) -> None:
    as_other = drp.agent.sign(drp.agent.envelope(**{"agent-id": "OTHER_AGENT"}))
    assert await drp.agent.pair(drp.http, as_other) == (403, None)


async def test_pairing_again_ends_the_old_token(core: PrivacyCore, drp: Drp) -> None:
    await paired(drp)
    old = drp.agent.token
    core.clock.advance(timedelta(seconds=1))  # type: ignore[attr-defined]  # a new message
    assert (await drp.agent.pair(drp.http))[0] == 200
    assert (await drp.agent.check(drp.http, token=old))[0] == 403
    assert (await drp.agent.check(drp.http))[0] == 200


async def test_another_agents_token_does_not_check_out_for_this_agent(drp: Drp) -> None:
    await paired(drp)
    await drp.other.pair(drp.http)
    assert (await drp.agent.check(drp.http, token=drp.other.token))[0] == 403


# --- the envelope, check by check, in the specification's order ----------------------------


def _envelope_case(drp: Drp, case: str) -> bytes:
    agent, now = drp.agent, drp.agent.now()
    fields: dict[str, Any] = {"exercise": "sale:opt-out", **claims()}
    if case == "bad base64":
        return b"%%% not base64 %%%"
    if case == "wrong key":
        return agent.sign(agent.envelope(**fields), key=Ed25519PrivateKey.generate())
    if case == "agent mismatch":
        fields["agent-id"] = "OTHER_AGENT"
    elif case == "foreign business":
        fields["business-id"] = "ANOTHER_SHOP"
    elif case == "not yet issued":
        fields["issued-at"] = (now + timedelta(minutes=2)).isoformat()
        fields["expires-at"] = (now + timedelta(minutes=7)).isoformat()
    elif case == "expired":
        fields["issued-at"] = (now - timedelta(minutes=9)).isoformat()
        fields["expires-at"] = (now - timedelta(minutes=1)).isoformat()
    elif case == "window over 10 minutes":
        fields["expires-at"] = (now + timedelta(minutes=11)).isoformat()
    return agent.sign(agent.envelope(**fields))


@pytest.mark.parametrize(
    ("case", "status", "fatal"),
    [
        ("bad base64", 400, True),
        ("wrong key", 403, True),
        ("agent mismatch", 403, True),
        ("foreign business", 403, True),
        ("not yet issued", 400, False),
        ("expired", 400, True),
        ("window over 10 minutes", 400, True),
    ],
)
async def test_an_envelope_failing_a_check_is_refused_and_changes_nothing(
    core: PrivacyCore, drp: Drp, case: str, status: int, fatal: bool
) -> None:
    await paired(drp)
    await customer_with_contacts(core)
    answer_status, answer = await drp.agent.exercise(drp.http, _envelope_case(drp, case))
    assert answer_status == status
    assert answer["code"] == str(status)
    assert answer["fatal"] is fatal
    assert answer["message"]
    assert await agent_rows(core) == 0


async def test_a_bad_signature_is_reported_before_an_expiry(drp: Drp) -> None:
    await paired(drp)
    now = drp.agent.now()
    stale = drp.agent.envelope(
        exercise="deletion",
        **{"expires-at": (now - timedelta(minutes=1)).isoformat()},
    )
    forged = drp.agent.sign(stale, key=Ed25519PrivateKey.generate())
    status, answer = await drp.agent.exercise(drp.http, forged)
    assert (status, answer["message"]) == (403, "the signature does not verify")


async def test_an_exercise_without_a_token_is_403(drp: Drp) -> None:
    body = drp.agent.sign(drp.agent.envelope(exercise="deletion", **claims()))
    status, answer = await drp.agent.exercise(drp.http, body)
    assert (status, answer["code"]) == (403, "403")


async def test_a_signed_message_sent_twice_acts_once(core: PrivacyCore, drp: Drp) -> None:
    await paired(drp)
    await customer_with_contacts(core)
    body = drp.agent.sign(drp.agent.envelope(exercise="sale:opt-out", **claims()))
    first, _ = await drp.agent.exercise(drp.http, body)
    again, answer = await drp.agent.exercise(drp.http, body)
    assert (first, again) == (200, 400)
    assert "used" in answer["message"] or "before" in answer["message"]
    assert await agent_rows(core) == 1


async def test_an_unsupported_action_is_a_400(drp: Drp) -> None:
    await paired(drp)
    status, answer = await drp.agent.ask(drp.http, "profiling:opt-out", **claims())
    assert (status, answer["code"], answer["fatal"]) == (400, "400", True)


# --- the actions ---------------------------------------------------------------------------


async def test_sale_opt_out_takes_effect_at_once_without_asking(
    core: PrivacyCore, drp: Drp
) -> None:
    await paired(drp)
    ref = await customer_with_contacts(core)
    status, answer = await drp.agent.ask(drp.http, "sale:opt-out", regime="ccpa", **claims())
    assert status == 200
    assert (answer["status"], answer.get("reason")) == ("fulfilled", None)
    assert answer["expected_by"] > answer["received_at"]  # 15 business days at the latest
    async with core.uow() as uow:
        customer = await uow.customers.get(ref)
        told = await uow.session.scalar(select(JobRow.payload).where(JobRow.kind == "notify"))
    assert customer.flags.opted_out_sharing
    assert told is not None
    assert told["message"] == "agent.notice.opted_out"


async def test_the_0_9_spelling_of_the_opt_out_is_understood(core: PrivacyCore, drp: Drp) -> None:
    await paired(drp)
    await customer_with_contacts(core)
    status, answer = await drp.agent.ask(drp.http, "sale:opt_out", **claims())
    assert (status, answer["status"]) == (200, "fulfilled")


@pytest.mark.parametrize(
    "action", ["deletion", "access", "access:categories", "access:specific", "sale:opt-in"]
)
async def test_an_action_that_needs_the_customer_waits_for_their_answer(
    core: PrivacyCore, drp: Drp, action: str
) -> None:
    await paired(drp)
    await customer_with_contacts(core)
    status, answer = await drp.agent.ask(drp.http, action, **claims(email=EMAIL))
    assert status == 200
    assert (answer["status"], answer["reason"]) == ("in_progress", "need_user_verification")
    assert "own chat" in answer["processing_details"]
    async with core.uow() as uow:
        asked = await uow.session.scalar(select(JobRow).where(JobRow.kind == "agent_ask"))
    assert asked is not None


async def test_claims_matching_nobody_are_denied_and_kept_nowhere(
    core: PrivacyCore, drp: Drp
) -> None:
    await paired(drp)
    await customer_with_contacts(core)
    stranger = {"email": "nobody@example.org", "phone_number": "+85261234567", "name": "Wong"}
    status, answer = await drp.agent.ask(drp.http, "deletion", **stranger)
    assert (status, answer["status"], answer["reason"]) == (200, "denied", "no_match")
    async with core.uow() as uow:
        rows = [
            dict(r._mapping) for r in await uow.session.execute(select(AgentRequestRow.__table__))
        ]
        entries = await audit_tail(50, uow)
    assert [r["customer_ref"] for r in rows] == [None]
    stored = json.dumps([e.details for e in entries]) + repr(rows)
    assert "nobody@example.org" not in stored
    assert "61234567" not in stored


async def test_claims_pointing_to_two_customers_match_neither(core: PrivacyCore, drp: Drp) -> None:
    await paired(drp)
    await customer_with_contacts(core, 5401, email=None)
    await customer_with_contacts(core, 5402, phone="+85291110000", email=EMAIL)
    _, answer = await drp.agent.ask(drp.http, "deletion", **claims(email=EMAIL))
    assert (answer["status"], answer["reason"]) == ("denied", "no_match")


async def test_a_name_contradicting_the_customers_matches_nobody(
    core: PrivacyCore, drp: Drp
) -> None:
    await paired(drp)
    await customer_with_contacts(core)
    _, wrong = await drp.agent.ask(drp.http, "deletion", **claims(name="Lee Siu Ming"))
    _, right = await drp.agent.ask(drp.http, "deletion", **claims(name=NAME.upper()))
    assert wrong["reason"] == "no_match"
    assert right["reason"] == "need_user_verification"


async def test_the_same_agent_request_id_answers_the_same_request(
    core: PrivacyCore, drp: Drp
) -> None:
    await paired(drp)
    await customer_with_contacts(core)
    _, first = await drp.agent.ask(drp.http, "deletion", **claims(**{"agent-request-id": "r-1"}))
    core.clock.advance(timedelta(seconds=5))  # type: ignore[attr-defined]  # signed anew
    _, again = await drp.agent.ask(drp.http, "deletion", **claims(**{"agent-request-id": "r-1"}))
    assert first["request_id"] == again["request_id"]
    assert again["agent_request_id"] == "r-1"
    assert await agent_rows(core) == 1


# --- status and revoking -------------------------------------------------------------------


async def test_the_agent_polls_its_request(core: PrivacyCore, drp: Drp) -> None:
    await paired(drp)
    await customer_with_contacts(core)
    _, made = await drp.agent.ask(drp.http, "deletion", **claims())
    assert await drp.agent.status(drp.http, made["request_id"]) == (200, made)


async def test_another_agents_token_reading_a_request_is_403(core: PrivacyCore, drp: Drp) -> None:
    await paired(drp)
    await drp.other.pair(drp.http)
    await customer_with_contacts(core)
    _, made = await drp.agent.ask(drp.http, "deletion", **claims())
    status, answer = await drp.other.status(drp.http, made["request_id"])
    assert (status, answer["code"]) == (403, "403")


async def test_a_request_nobody_issued_is_404(drp: Drp) -> None:
    await paired(drp)
    status, _ = await drp.agent.status(drp.http, "c789ff35-7644-4ceb-9981-4b35c264aac3")
    assert status == 404


async def test_revoking_a_request_waiting_for_the_customer_ends_it(
    core: PrivacyCore, drp: Drp
) -> None:
    await paired(drp)
    await customer_with_contacts(core)
    _, made = await drp.agent.ask(drp.http, "deletion", **claims())
    status, revoked = await drp.agent.revoke(drp.http, made["request_id"], "changed my mind")
    assert (status, revoked["status"]) == (200, "revoked")
    assert (await drp.agent.status(drp.http, made["request_id"]))[1]["status"] == "revoked"
    async with core.uow() as uow:
        entries = await audit_tail(20, uow)
    assert "changed my mind" not in json.dumps([e.details for e in entries])


async def test_another_agent_cannot_revoke_a_request(core: PrivacyCore, drp: Drp) -> None:
    await paired(drp)
    await drp.other.pair(drp.http)
    await customer_with_contacts(core)
    _, made = await drp.agent.ask(drp.http, "deletion", **claims())
    status, _ = await drp.other.revoke(drp.http, made["request_id"])
    assert status == 403
    assert (await drp.agent.status(drp.http, made["request_id"]))[1]["status"] == "in_progress"


async def test_a_fulfilled_request_cannot_be_revoked(core: PrivacyCore, drp: Drp) -> None:
    await paired(drp)
    await customer_with_contacts(core)
    _, made = await drp.agent.ask(drp.http, "sale:opt-out", **claims())
    status, answer = await drp.agent.revoke(drp.http, made["request_id"])
    assert (status, answer["code"]) == (409, "409")


# --- the audit ---------------------------------------------------------------------------------


async def test_every_agent_call_is_audited_without_claim_values(
    core: PrivacyCore, drp: Drp
) -> None:
    await paired(drp)
    await customer_with_contacts(core)
    await drp.agent.check(drp.http)
    _, made = await drp.agent.ask(drp.http, "deletion", **claims(email=EMAIL, name=NAME))
    await drp.agent.status(drp.http, made["request_id"])
    forged = drp.agent.sign(drp.agent.envelope(), key=Ed25519PrivateKey.generate())
    await drp.agent.exercise(drp.http, forged)
    async with core.uow() as uow:
        entries = await audit_tail(50, uow)
    actions = [(e.action, e.outcome) for e in entries if e.actor_kind == "agent"]
    assert ("agent.paired", "ok") in actions
    assert ("agent.token_checked", "ok") in actions
    assert ("agent.exercise", "ok") in actions
    assert ("agent.status", "ok") in actions
    assert ("agent.exercise", "denied") in actions
    logged = json.dumps([e.details for e in entries])
    assert PHONE not in logged
    assert EMAIL not in logged
    assert NAME not in logged
    assert drp.agent.token is not None
    assert drp.agent.token not in logged


async def test_drp_is_off_without_its_settings(core: PrivacyCore) -> None:
    from aiohttp.test_utils import TestClient, TestServer

    from bot.http.app import build_app
    from bot.http.metrics import Metrics

    async with TestClient(TestServer(build_app(Metrics()))) as client:
        response = await client.post("/drp/v1/agent/TEST_AGENT", data=base64.b64encode(b"x"))
    assert response.status == 404


# --- settings ---------------------------------------------------------------------------


def test_drp_needs_both_settings_or_neither() -> None:
    from core.errors import ConfigurationError
    from core.settings import Settings

    with pytest.raises(ConfigurationError, match="both PRIVACY_DRP_BUSINESS_ID"):
        Settings.from_env({"PRIVACY_DRP_BUSINESS_ID": "TEA_SHOP"})


def test_an_agent_key_that_is_not_ed25519_stops_the_start_naming_the_agent() -> None:
    from core.errors import ConfigurationError
    from core.settings import Settings

    env = {"PRIVACY_DRP_BUSINESS_ID": "TEA_SHOP", "PRIVACY_DRP_AGENTS": "TEST_AGENT=bm9wZQ=="}
    with pytest.raises(ConfigurationError, match="TEST_AGENT's key"):
        Settings.from_env(env)


def test_a_business_id_outside_the_directorys_form_is_refused() -> None:
    from core.errors import ConfigurationError
    from core.settings import Settings

    key = base64.b64encode(bytes(32)).decode()
    env = {"PRIVACY_DRP_BUSINESS_ID": "tea-shop", "PRIVACY_DRP_AGENTS": f"TEST_AGENT={key}"}
    with pytest.raises(ConfigurationError, match="capitals"):
        Settings.from_env(env)


async def test_the_same_signed_body_with_its_agent_request_id_resent_gets_the_first_request(
    core: PrivacyCore, drp: Drp
) -> None:
    await paired(drp)
    await customer_with_contacts(core)
    body = drp.agent.sign(
        drp.agent.envelope(exercise="deletion", **claims(**{"agent-request-id": "r-9"}))
    )
    first = await drp.agent.exercise(drp.http, body)
    again = await drp.agent.exercise(drp.http, body)  # its answer was lost: sent again
    assert first == again
    assert await agent_rows(core) == 1


@pytest.mark.parametrize(
    "url",
    [
        "http://agent.example/status",
        "https://127.0.0.1/status",
        "https://10.0.0.5/status",
        "https://localhost/status",
        "https://[::1]/status",
    ],
)
async def test_a_status_callback_into_a_private_network_is_refused(
    core: PrivacyCore, drp: Drp, url: str
) -> None:
    core.settings = dataclasses.replace(core.settings, drp_local_callbacks=False)
    await paired(drp)
    await customer_with_contacts(core)
    status, answer = await drp.agent.ask(drp.http, "deletion", status_callback=url, **claims())
    assert (status, answer["code"]) == (400, "400")
    assert await agent_rows(core) == 0


async def test_an_agent_taken_off_the_directory_can_no_longer_use_its_token(
    core: PrivacyCore, drp: Drp
) -> None:
    await paired(drp)
    await customer_with_contacts(core)
    _, made = await drp.agent.ask(drp.http, "deletion", **claims())
    listed = dict(drp.hook.directory.keys)
    del listed["TEST_AGENT"]
    drp.hook.directory = dataclasses.replace(drp.hook.directory, keys=listed)
    assert (await drp.agent.check(drp.http))[0] == 403
    assert (await drp.agent.status(drp.http, made["request_id"]))[0] == 403
