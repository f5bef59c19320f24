"""The staff desk through the flow engine (console channel): roles, decisions, look-ups,
statistics, retention, digest and bad input. Telegram-only behaviour is in
test_staff_telegram.py; the same flows run there.
"""

from __future__ import annotations

import struct
from datetime import timedelta

import pytest

from bot.background.staff_tasks import send_digest
from bot.conversation.events import EventKind
from bot.conversation.routes import build_route_map
from bot.render.i18n import Translator
from core.app import PrivacyCore
from core.audit import AuditEntry
from core.domain.customer import IdentityKind
from core.domain.requests import DataRequest, RequestKind, RequestState
from core.errors import PolicyDenied, PrivacyError
from core.services import (
    SYSTEM,
    AddStaff,
    OpenRequest,
    RegisterCustomer,
    RemoveStaff,
    add_staff,
    open_request,
    register_customer,
    remove_staff,
)
from core.services.desk.queue import DecideRequest, extend_with_notice, reject_request
from core.services.desk.reasons import StaffReason, open_reason
from core.services.rights.rectification import CorrectField, correct_field
from tests.chat_drivers import ConsoleDriver
from tests.outbound_support import recording
from tests.rights_helpers import telegram_customer

ADMIN, AGENT, AUDITOR, NOBODY = 8001, 8002, 8003, 8009
ROLES = {ADMIN: "admin", AGENT: "agent", AUDITOR: "auditor"}
PHONE, NAME = "+852 9123 4567", "Alice Wong"
en = Translator("en")


# --- helpers ----------------------------------------------------------------------------


async def staff(core: PrivacyCore, *ids: int) -> None:
    for telegram_id in ids:
        async with core.uow() as uow:
            await add_staff(AddStaff(telegram_id, ROLES[telegram_id], SYSTEM), uow)
            await uow.commit()


async def customer(core: PrivacyCore, phone: str = PHONE, name: str = NAME) -> str:
    async with core.uow() as uow:
        found, _ = await register_customer(
            RegisterCustomer(IdentityKind.PHONE, phone, name=name), uow
        )
        await uow.commit()
    return found.ref


async def request(
    core: PrivacyCore,
    kind: RequestKind = RequestKind.ERASURE,
    *,
    due_in: timedelta | None = None,
    jurisdiction: str | None = None,
) -> DataRequest:
    ref = await customer(core)
    async with core.uow() as uow:
        if jurisdiction:
            person = await uow.customers.get(ref)
            person.jurisdiction = jurisdiction
            await uow.customers.save(person)
        opened = await open_request(OpenRequest(ref, kind), uow)
        if due_in is not None:
            opened.due_at = uow.now() + due_in
            await uow.requests.save(opened)
        await uow.commit()
    return opened


async def reason_of(core: PrivacyCore, stored: str, customer_ref: str | None) -> str:
    """A stored staff reason as typed: its category word (unless "other"), then its text."""
    assert customer_ref is not None
    async with core.uow() as uow:
        reason = await open_reason(stored, customer_ref, uow)
    return reason.note if reason.category == "other" else f"{reason.category} {reason.note}"


async def stored(core: PrivacyCore, ref: str) -> DataRequest:
    async with core.uow() as uow:
        return await uow.requests.get(ref)


async def audit_entries(core: PrivacyCore) -> list[AuditEntry]:
    async with core.uow() as uow:
        return [e async for e in uow.audit.stream()]


async def notice(core: PrivacyCore, key: str) -> dict[str, object] | None:
    async with core.uow() as uow:
        job = await uow.jobs.get(f"notify:{key}")
    return None if job is None else job.payload


def texts(chat: ConsoleDriver) -> list[str]:
    return [m.text for m in chat.messages]


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


DENIED = en("staff.error.permission_denied")


# --- roles ------------------------------------------------------------------------------

# command line -> the permission it needs (from the policy), for every desk command
MATRIX = {
    "/queue": "queue.view",
    "/request {ref}": "request.view",
    "/lookup +852 9123 4567 customer phoned about an order": "lookup.masked",
    "/audit verify": "audit.verify",
    "/audit tail 3": "audit.tail",
    "/stats": "stats.view",
    "/retention": "retention.run",
    "/incident list": "incident.manage",
}
HIDDEN = {"/incident list"}  # invisible without the permission: answered as a customer


def test_the_matrix_covers_every_desk_command() -> None:
    assert {line.split()[0][1:] for line in MATRIX} == set(build_route_map().staff_commands)


async def test_each_desk_command_runs_exactly_for_the_roles_the_policy_allows(
    core: PrivacyCore,
) -> None:
    await staff(core, ADMIN, AGENT, AUDITOR)
    opened = await request(core)
    expected_denials = 0
    for line, permission in MATRIX.items():
        command = line.format(ref=opened.ref)
        for member, role in ROLES.items():
            chat = ConsoleDriver(core, member)
            await chat.send(command)
            allowed = core.policy.allows(role, permission)
            expected_denials += not allowed
            assert chat.messages, (role, command)
            if line in HIDDEN:  # answered as a customer: no desk text at all
                refused = en("incident.staff.none") not in texts(chat)
            else:
                refused = DENIED in texts(chat)
            assert refused is not allowed, (role, command, texts(chat))
    denials = [e for e in await audit_entries(core) if e.outcome == "denied"]
    assert len(denials) == expected_denials


async def test_a_non_member_gets_the_unknown_command_reply_and_an_audited_denial(
    core: PrivacyCore,
) -> None:
    opened = await request(core)
    stranger, control = ConsoleDriver(core, NOBODY), ConsoleDriver(core, NOBODY + 1)
    for chat in (stranger, control):
        await chat.send("/start")
    await control.send("/nosuchcommand")
    for line in MATRIX:
        await stranger.send(line.format(ref=opened.ref))
        assert texts(stranger)[-1] == texts(control)[-1], line
    assert texts(control)[-1].startswith(en("unknown.text"))
    denials = [e for e in await audit_entries(core) if e.outcome == "denied"]
    assert len(denials) == len(MATRIX)
    assert {e.actor_kind for e in denials} == {"customer"}  # as the customer they are
    assert all(e.details == {"reason": "permission_denied"} for e in denials)


async def test_a_non_members_first_desk_command_looks_like_any_unknown_first_message(
    core: PrivacyCore,
) -> None:
    stranger, control = ConsoleDriver(core, NOBODY), ConsoleDriver(core, NOBODY + 1)
    await stranger.send("/queue")
    await control.send("/nosuchcommand")
    assert texts(stranger) == texts(control)


async def test_a_member_removed_mid_conversation_loses_access_at_the_next_update(
    core: PrivacyCore,
) -> None:
    await staff(core, AGENT)
    opened = await request(core)
    chat = ConsoleDriver(core, AGENT)
    await chat.send(f"/request {opened.ref}")
    async with core.uow() as uow:
        await remove_staff(RemoveStaff(AGENT, SYSTEM), uow)
        await uow.commit()
    await chat.press("Approve")
    await chat.send("/queue")
    assert (await stored(core, opened.ref)).state is RequestState.RECEIVED
    assert en("staff.queue.title", page=1) not in texts(chat)[-1]


async def test_staff_are_not_registered_as_customers_by_the_desk(core: PrivacyCore) -> None:
    await staff(core, ADMIN)
    await ConsoleDriver(core, ADMIN).send("/queue")
    async with core.uow() as uow:
        assert await uow.customers.find(IdentityKind.TELEGRAM, str(ADMIN)) is None


# --- queue and request ------------------------------------------------------------------


async def test_the_queue_lists_open_requests_by_due_date_with_overdue_and_due_soon_marked(
    core: PrivacyCore,
) -> None:
    await staff(core, AGENT)
    later = await request(core, due_in=timedelta(days=20))
    overdue = await request(core, due_in=timedelta(days=-1))
    soon = await request(core, due_in=timedelta(days=2))
    chat = ConsoleDriver(core, AGENT)
    await chat.send("/queue")
    lines = [line for line in texts(chat)[-1].splitlines() if " · q" in line]
    assert [line.split(" · ")[1] for line in lines] == [overdue.ref, soon.ref, later.ref]
    assert en("staff.mark.overdue") in lines[0]
    assert en("staff.mark.due_soon") in lines[1]
    assert en("staff.mark.on_track") in lines[2]


async def test_the_queue_pages_with_buttons(core: PrivacyCore) -> None:
    await staff(core, AGENT)
    refs = [(await request(core, due_in=timedelta(days=10 + i))).ref for i in range(7)]
    chat = ConsoleDriver(core, AGENT)
    await chat.send("/queue")
    assert refs[5] not in texts(chat)[-1]
    await chat.press("Next")
    assert refs[5] in texts(chat)[-1]
    assert refs[0] not in texts(chat)[-1]
    await chat.press("Previous")
    assert refs[0] in texts(chat)[-1]


async def test_an_empty_queue_says_so(core: PrivacyCore) -> None:
    await staff(core, AGENT)
    chat = ConsoleDriver(core, AGENT)
    await chat.send("/queue")
    assert texts(chat) == [en("staff.queue.empty")]


async def test_request_details_show_kind_state_due_regime_and_history(core: PrivacyCore) -> None:
    await staff(core, AGENT)
    opened = await request(core)
    chat = ConsoleDriver(core, AGENT)
    await chat.send(f"/request {opened.ref}")
    text = texts(chat)[-1]
    for part in (opened.ref, "erasure", "received", "PDPO", en("staff.request.history")):
        assert part in text
    assert chat.messages[-1].labels() == [
        "✅ Approve",
        "❌ Reject",
        "🪪 Ask: proof it is theirs",
        "❓ Ask: more detail",
    ]


async def test_a_malformed_request_id_gets_the_usage(core: PrivacyCore) -> None:
    await staff(core, AGENT)
    chat = ConsoleDriver(core, AGENT)
    for args in ("", "nonsense", "q" + "0" * 23, "q123; DROP TABLE"):
        await chat.send(f"/request {args}")
    assert texts(chat) == [en("staff.request.usage")] * 4


async def test_an_unknown_request_id_is_named_as_unknown(core: PrivacyCore) -> None:
    await staff(core, AGENT)
    chat = ConsoleDriver(core, AGENT)
    await chat.send("/request q" + "0" * 24)
    assert texts(chat) == [en("staff.error.no_request")]


async def test_the_auditor_sees_a_request_without_decision_buttons(core: PrivacyCore) -> None:
    await staff(core, AUDITOR)
    opened = await request(core)
    chat = ConsoleDriver(core, AUDITOR)
    await chat.send(f"/request {opened.ref}")
    assert chat.messages[-1].buttons == []


# --- decisions --------------------------------------------------------------------------


async def test_approve_moves_the_request_in_progress_tells_the_customer_and_is_audited(
    core: PrivacyCore,
) -> None:
    await staff(core, AGENT)
    opened = await request(core, RequestKind.RECTIFICATION)  # one approval is enough
    chat = ConsoleDriver(core, AGENT)
    await chat.send(f"/request {opened.ref}")
    await chat.press("Approve")
    assert (await stored(core, opened.ref)).state is RequestState.IN_PROGRESS
    told = await notice(core, f"approved:{opened.ref}")
    assert told is not None
    assert told["message"] == "staff.notice.approved"
    last = (await audit_entries(core))[-1]
    assert (last.action, last.actor_kind, last.outcome) == ("request.in_progress", "staff", "ok")


async def test_approving_twice_is_refused_and_audited(core: PrivacyCore) -> None:
    await staff(core, AGENT)
    opened = await request(core, RequestKind.RECTIFICATION)
    chat = ConsoleDriver(core, AGENT)
    await chat.send(f"/request {opened.ref}")
    await chat.press("Approve")
    await chat.press_raw(chat.messages[-2].buttons[0][1], chat.messages[-2].id)
    assert texts(chat)[-1] == en("staff.error.invalid_transition")
    assert (await audit_entries(core))[-1].outcome == "denied"


async def test_reject_takes_the_next_message_as_reason_and_tells_the_customer(
    core: PrivacyCore,
) -> None:
    await staff(core, AGENT)
    opened = await request(core)
    chat = ConsoleDriver(core, AGENT)
    await chat.send(f"/request {opened.ref}")
    await chat.press("Reject")
    await chat.send("identity could not be verified")
    after = await stored(core, opened.ref)
    assert after.state is RequestState.REJECTED
    stored_reason = after.history[-1][2] or ""
    assert stored_reason.startswith("identity sealed:")  # the category in clear, the text not
    told = await notice(core, f"rejected:{opened.ref}")
    assert told is not None
    assert told["params"]["reason"] == stored_reason  # type: ignore[index]
    async with core.uow() as uow:
        opened_reason = await open_reason(stored_reason, opened.customer_ref, uow)
    assert opened_reason == StaffReason("identity", "could not be verified")
    assert (await audit_entries(core))[-1].action == "request.rejected"


async def test_a_blank_reason_is_asked_again_and_a_command_cancels(core: PrivacyCore) -> None:
    await staff(core, AGENT)
    opened = await request(core)
    chat = ConsoleDriver(core, AGENT)
    await chat.send(f"/request {opened.ref}")
    await chat.press("Reject")
    await chat._handle(chat._event(kind=EventKind.TEXT, text="   "))  # the console skips it
    assert texts(chat)[-1] == en("staff.reason.empty")
    await chat.send("/queue")
    await chat.send("this is not a reason any more")
    assert (await stored(core, opened.ref)).state is RequestState.RECEIVED


async def test_extend_under_gdpr_sets_the_new_date_and_tells_the_customer_why(
    core: PrivacyCore,
) -> None:
    await staff(core, AGENT)
    opened = await request(core, jurisdiction="gdpr")
    chat = ConsoleDriver(core, AGENT)
    await chat.send(f"/request {opened.ref}")
    await chat.press("Extend")
    await chat.send("the request covers ten years of records")
    after = await stored(core, opened.ref)
    assert after.extended
    assert after.due_at > opened.due_at
    told = await notice(core, f"extended:{opened.ref}")
    assert told is not None
    assert told["params"]["due"] in texts(chat)[-1]  # type: ignore[index]
    sealed = str(told["params"]["reason"])  # type: ignore[index]
    assert (
        await reason_of(core, sealed, opened.customer_ref)
        == "the request covers ten years of records"
    )
    assert (await audit_entries(core))[-1].action == "request.extended"


async def test_extend_is_not_offered_where_the_regime_allows_none(core: PrivacyCore) -> None:
    await staff(core, AGENT)
    opened = await request(core)  # PDPO: 40 days, no extension
    chat = ConsoleDriver(core, AGENT)
    await chat.send(f"/request {opened.ref}")
    assert "⏳ Extend" not in chat.messages[-1].labels()


async def test_a_forged_extend_press_is_refused_as_expired(core: PrivacyCore) -> None:
    await staff(core, AGENT)
    opened = await request(core)
    chat = ConsoleDriver(core, AGENT)
    await chat.send(f"/request {opened.ref}")
    token = chat.messages[-1].buttons[0][1].split("|")[0]
    await chat.press_raw(f"{token}|sx|{opened.ref}", chat.messages[-1].id)
    assert chat.notice == en("button.expired")
    assert not (await stored(core, opened.ref)).extended


async def test_an_extension_under_pdpo_is_refused_and_audited(core: PrivacyCore) -> None:
    await staff(core, AGENT)
    opened = await request(core)
    with pytest.raises(PrivacyError):
        async with core.uow() as uow:
            await extend_with_notice(DecideRequest(AGENT, opened.ref, "more time please"), uow)
    assert not (await stored(core, opened.ref)).extended
    assert (await audit_entries(core))[-1].details == {"reason": "extension_not_allowed"}


async def test_a_button_from_another_members_chat_is_refused(core: PrivacyCore) -> None:
    await staff(core, ADMIN, AGENT)
    opened = await request(core)
    agent = ConsoleDriver(core, AGENT)
    await agent.send(f"/request {opened.ref}")
    admin = ConsoleDriver(core, ADMIN)
    await admin.press_raw(agent.messages[-1].buttons[0][1], None)
    assert admin.notice == en("button.expired")
    assert (await stored(core, opened.ref)).state is RequestState.RECEIVED


# --- look-up ----------------------------------------------------------------------------


async def test_an_agent_sees_masked_values_and_no_reveal_button(core: PrivacyCore) -> None:
    await staff(core, AGENT)
    ref = await customer(core)
    chat = ConsoleDriver(core, AGENT)
    await chat.send("/lookup +852 9123 4567 customer phoned about an order")
    text = texts(chat)[-1]
    assert ref in text
    assert "+852 9***4567" in text
    assert "A*** W***" in text
    assert NAME not in text
    assert "91234567" not in text
    assert chat.messages[-1].buttons == []


async def test_every_look_up_is_audited_with_its_reason_and_never_the_value(
    core: PrivacyCore,
) -> None:
    await staff(core, AGENT)
    ref = await customer(core, phone="+852 6123 9876", name="Bob Chan")
    chat = ConsoleDriver(core, AGENT)
    await chat.send("/lookup 61239876 complaint follow-up")
    await chat.send("/lookup nobody@example.com checking a bounce")
    lookups = [e for e in await audit_entries(core) if e.action == "staff.lookup"]
    assert [(e.subject_ref, e.details["found"]) for e in lookups] == [(ref, True), (None, False)]
    assert await reason_of(core, lookups[0].details["reason"], ref) == "complaint follow-up"
    assert lookups[1].details["reason"] == "other"  # nobody found: the text is not kept
    # The values as typed and as normalised (refs and hashes are random hex, so a
    # fragment such as "6123" may appear in them by chance).
    for value in ("61239876", "+85261239876", "6123 9876", "nobody@example.com"):
        assert value not in repr(lookups)
    assert texts(chat)[-1] == en("staff.lookup.none")


async def test_an_admin_reveals_in_full_and_the_reveal_is_audited_with_the_reason(
    core: PrivacyCore,
) -> None:
    await staff(core, ADMIN)
    ref = await customer(core)
    chat = ConsoleDriver(core, ADMIN)
    await chat.send("/lookup +85291234567 verifying identity for erasure")
    assert NAME not in texts(chat)[-1]
    await chat.press("Reveal")
    assert NAME in texts(chat)[-1]
    assert "+85291234567" in texts(chat)[-1]
    reveal = (await audit_entries(core))[-1]
    assert (reveal.action, reveal.subject_ref) == ("staff.reveal", ref)
    assert reveal.details["fields"] == ["name", "phone"]
    assert await reason_of(core, reveal.details["reason"], ref) == "verifying identity for erasure"


async def test_a_look_up_without_a_reason_is_refused_with_the_usage(core: PrivacyCore) -> None:
    await staff(core, AGENT)
    await customer(core)
    chat = ConsoleDriver(core, AGENT)
    await chat.send("/lookup +852 9123 4567")
    assert texts(chat) == [en("staff.lookup.usage")]
    assert not [e for e in await audit_entries(core) if e.action == "staff.lookup"]


async def test_a_malformed_email_look_up_gets_a_clear_reply(core: PrivacyCore) -> None:
    await staff(core, AGENT)
    chat = ConsoleDriver(core, AGENT)
    await chat.send("/lookup a@@b checking")
    assert texts(chat) == [en("staff.error.bad_email")]


async def test_a_long_reason_is_capped_in_the_audit_log(core: PrivacyCore) -> None:
    await staff(core, AGENT)
    await customer(core)
    chat = ConsoleDriver(core, AGENT)
    await chat.send("/lookup +85291234567 " + "because " * 100)
    stored = (await audit_entries(core))[-1]
    assert 190 < len(await reason_of(core, stored.details["reason"], stored.subject_ref)) <= 200


# --- audit, stats, retention ------------------------------------------------------------


async def test_audit_verify_and_tail_for_the_auditor(core: PrivacyCore) -> None:
    await staff(core, AUDITOR)
    await customer(core)
    chat = ConsoleDriver(core, AUDITOR)
    await chat.send("/audit verify")
    assert texts(chat)[-1].startswith("✅")
    await chat.send("/audit tail 2")
    assert texts(chat)[-1].count("\n#") == 2
    assert NAME not in texts(chat)[-1]


async def test_malformed_audit_arguments_get_the_usage(core: PrivacyCore) -> None:
    await staff(core, AUDITOR)
    chat = ConsoleDriver(core, AUDITOR)
    bad = ["", "tail 0", "tail 999", "tail x", "verify now", "delete"]
    for args in bad:
        await chat.send(f"/audit {args}")
    assert texts(chat) == [en("staff.audit.usage", most=20)] * len(bad)


async def test_stats_send_a_real_png_and_hide_counts_under_five(core: PrivacyCore) -> None:
    await staff(core, AGENT)
    await request(core)
    chat = ConsoleDriver(core, AGENT)
    outcome = await chat._chat.engine.handle(chat._event(kind=EventKind.COMMAND, text="stats"))
    photo = next(r for r in outcome.replies if r.photo is not None)
    width, height = png_size(photo.photo or b"")
    assert width > 0
    assert height > 0
    text = outcome.replies[-1].text
    assert "<5" in text
    assert " 1\n" not in text


async def test_retention_shows_a_dry_run_then_runs_on_confirm(core: PrivacyCore) -> None:
    await staff(core, ADMIN)
    ref = await customer(core)
    async with core.uow() as uow:
        person = await uow.customers.get(ref)
        person.last_active_at = uow.now() - timedelta(days=4000)
        await uow.customers.save(person)
        await uow.commit()
    chat = ConsoleDriver(core, ADMIN)
    await chat.send("/retention")
    assert en("staff.retention.kind.customer") in texts(chat)[-1]
    async with core.uow() as uow:
        assert await uow.customers.exists(ref)
    await chat.press("Run the clean-up")
    assert texts(chat)[-1].startswith(en("staff.retention.done"))
    async with core.uow() as uow:
        assert not await uow.customers.exists(ref)


# --- digest -----------------------------------------------------------------------------


async def test_the_digest_lists_exactly_the_overdue_and_due_soon_requests(
    core: PrivacyCore,
) -> None:
    await staff(core, ADMIN, AGENT)
    overdue = await request(core, due_in=timedelta(days=-2))
    soon = await request(core, due_in=timedelta(days=2, hours=23))
    later = await request(core, due_in=timedelta(days=3, hours=1))
    closed = await request(core, due_in=timedelta(days=-5))
    async with core.uow() as uow:
        done = await uow.requests.get(closed.ref)
        done.move_to(RequestState.REJECTED, uow.now(), "duplicate")
        await uow.requests.save(done)
        await uow.commit()
    outbound, sender = recording()
    assert await send_digest(core, outbound) == 2
    assert sorted(chat for chat, _ in sender.sent) == [ADMIN, AGENT]
    text = sender.sent[0][1].text
    assert overdue.ref in text
    assert soon.ref in text
    assert later.ref not in text
    assert closed.ref not in text
    assert text.index(overdue.ref) < text.index(soon.ref)


async def test_no_digest_is_sent_when_nothing_is_due(core: PrivacyCore) -> None:
    await staff(core, ADMIN)
    await request(core, due_in=timedelta(days=20))
    outbound, sender = recording()
    assert await send_digest(core, outbound) == 0
    assert sender.sent == []


# --- separation of duties -----------------------------------------------------------------


async def test_an_erasure_needs_two_different_approvers_before_it_runs(core: PrivacyCore) -> None:
    await staff(core, AGENT, ADMIN)
    opened = await request(core)
    agent, admin = ConsoleDriver(core, AGENT), ConsoleDriver(core, ADMIN)
    await agent.send(f"/request {opened.ref}")
    await agent.press("Approve")
    assert texts(agent)[-1] == en("staff.request.first_approval", ref=opened.ref)
    assert (await stored(core, opened.ref)).state is RequestState.RECEIVED
    assert await notice(core, f"approved:{opened.ref}") is None  # the customer waits
    await admin.send(f"/request {opened.ref}")
    await admin.press("Approve")
    assert (await stored(core, opened.ref)).state is RequestState.IN_PROGRESS


async def test_the_first_approver_cannot_give_the_second_approval(core: PrivacyCore) -> None:
    await staff(core, AGENT)
    opened = await request(core)
    chat = ConsoleDriver(core, AGENT)
    await chat.send(f"/request {opened.ref}")
    await chat.press("Approve")
    await chat.send(f"/request {opened.ref}")
    await chat.press("Approve")
    assert texts(chat)[-1] == en("staff.error.second_approver_needed")
    assert (await stored(core, opened.ref)).state is RequestState.RECEIVED
    last = (await audit_entries(core))[-1]
    assert (last.action, last.outcome) == ("request.approve", "denied")


async def test_a_staff_member_cannot_decide_their_own_request(core: PrivacyCore) -> None:
    await staff(core, AGENT)
    own = await telegram_customer(core, AGENT)
    async with core.uow() as uow:
        opened = await open_request(OpenRequest(own, RequestKind.RECTIFICATION), uow)
        await uow.commit()
    chat = ConsoleDriver(core, AGENT)
    await chat.send(f"/request {opened.ref}")
    await chat.press("Approve")
    assert texts(chat)[-1] == en("staff.error.own_request")
    assert (await stored(core, opened.ref)).state is RequestState.RECEIVED
    last = (await audit_entries(core))[-1]
    assert (last.action, last.outcome) == ("request.approve", "denied")


async def test_a_staff_member_with_the_customers_phone_cannot_reject_their_request(
    core: PrivacyCore,
) -> None:
    await staff(core, AGENT)
    opened = await request(core, RequestKind.RECTIFICATION)  # the customer of PHONE
    await telegram_customer(core, AGENT, phone=PHONE)  # the agent's own record
    async with core.uow() as uow:
        with pytest.raises(PolicyDenied, match="about themselves"):
            await reject_request(DecideRequest(AGENT, opened.ref, "not me"), uow)
    assert (await stored(core, opened.ref)).state is RequestState.RECEIVED
    last = (await audit_entries(core))[-1]
    assert (last.action, last.outcome) == ("request.reject", "denied")


# --- deciding with the facts ---------------------------------------------------------------


async def correction(core: PrivacyCore, new_email: str) -> str:
    ref = await customer(core)
    async with core.uow() as uow:
        person = await uow.customers.get(ref)
        person.email = "alice.old@example.com"
        await uow.customers.save(person)
        request, _ = await correct_field(CorrectField(ref, "email", new_email), uow)
        await uow.commit()
    return request.ref


async def test_a_correction_shows_the_change_masked_to_an_agent(core: PrivacyCore) -> None:
    await staff(core, AGENT)
    ref = await correction(core, "alice.new@example.org")
    chat = ConsoleDriver(core, AGENT)
    await chat.send(f"/request {ref}")
    text = texts(chat)[-1]
    assert "Change: email a***@example.com → a***@example.org" in text
    assert "alice.new" not in text
    assert en("staff.button.reveal_change") not in chat.messages[-1].labels()  # agents can't


async def test_an_admin_sees_the_change_in_full_with_a_reason_that_is_audited(
    core: PrivacyCore,
) -> None:
    await staff(core, ADMIN)
    ref = await correction(core, "alice.new@example.org")
    chat = ConsoleDriver(core, ADMIN)
    await chat.send(f"/request {ref}")
    await chat.press(en("staff.button.reveal_change"))
    await chat.send("customer called to confirm the new address")
    assert texts(chat)[-1] == "Change: email alice.old@example.com → alice.new@example.org"
    last = (await audit_entries(core))[-1]
    assert (last.action, last.outcome) == ("staff.reveal", "ok")
    reason = await reason_of(core, last.details["reason"], last.subject_ref)
    assert reason == "customer called to confirm the new address"
    assert "alice" not in str(last.details)
