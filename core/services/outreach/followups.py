"""Use cases of the post-purchase follow-up: when it may go out, and what happened.

The bot's worker sends a follow-up in steps, each its own transaction:
``start_followup`` with ``mark=False`` checks the policy (consent may have been
withdrawn since scheduling) without writing; the message waits for its permit
to send; ``start_followup`` checks again and marks the follow-up "sending" the
moment the permit is granted, immediately before the message leaves
(``followup_not_sent`` undoes that when it certainly did not leave); the bot
sends; ``finish_followup`` records the outcome, audits it and closes the job
together. A follow-up found still "sending" by a later worker may have
reached the customer, so it is never sent again (at most once: a second
unprompted message for one order is the harm the design forbids).

Notices (kind ``notify``, core/services/outreach/notices.py) are the opposite
trade: a data-rights answer must arrive, a duplicate one is harmless, so they are
retried until delivered.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from core.domain.consent import ConsentEntry, consent_standing
from core.domain.customer import Customer
from core.domain.job import Job
from core.domain.policy import Policy
from core.domain.reach import WHATSAPP, Chat, no_chat_reason, reach
from core.domain.rules import check_may_contact
from core.domain.survey import Survey, load_survey
from core.errors import NotFound, PolicyDenied
from core.services._common import SYSTEM
from core.services.customers import mark_unreachable
from core.services.jobs import complete_job, retry_job
from core.storage import UnitOfWork
from core.storage.tables import FollowupRow

__all__ = [
    "FOLLOWUP",
    "FOLLOWUP_SURVEY_PATH",
    "Delivery",
    "FinishFollowup",
    "FollowupStart",
    "StartFollowup",
    "finish_followup",
    "followup_denial",
    "followup_not_sent",
    "followup_survey",
    "mark_unreachable",
    "outside_quiet_hours",
    "record_suppressed",
    "start_followup",
]

FOLLOWUP = "followup"
FOLLOWUP_SURVEY_PATH = Path(__file__).resolve().parents[2] / "policy" / "followup_survey.toml"


@cache
def followup_survey() -> Survey:
    return load_survey(FOLLOWUP_SURVEY_PATH)


class Delivery(StrEnum):
    """What the bot learned when it tried to send."""

    SENT = "sent"
    BLOCKED = "blocked"  # 403: the customer blocked the bot
    UNKNOWN = "unknown"  # the request went out, the answer never came
    REJECTED = "rejected"  # Telegram refused the message itself (400): retrying won't help
    RETRY = "retry"  # certainly not delivered (429, 5xx, no connection): try again later
    CALLED_OFF = "called_off"  # not sent: no longer wanted when its turn came


# --- pure rules -------------------------------------------------------------------


def outside_quiet_hours(policy: Policy, zone: ZoneInfo, at: datetime) -> datetime:
    """``at``, or the end of the quiet window ``at`` falls in (local wall clock)."""
    local = at.astimezone(zone)
    if not policy.quiet_hours.contains(local.time()):
        return at
    end = datetime.combine(local.date(), policy.quiet_hours.end, tzinfo=zone)
    if end <= local:
        end = datetime.combine(local.date() + timedelta(days=1), policy.quiet_hours.end, zone)
    return end.astimezone(UTC)


async def followup_denial(
    customer: Customer, uow: UnitOfWork, extra_blinds: tuple[str, ...] = ()
) -> str | None:
    """Why this customer may not get a follow-up now, or None if they may."""
    # Any of the customer's identities (or the given ones) on the suppression list?
    # Consent to follow-ups given after the listing lifts it (an erased customer came back).
    contacts = [blind for _, blind in await uow.customers.identity_blinds(customer.ref)]
    listed = await uow.suppressions.listed_at([*contacts, *extra_blinds])
    consents = await uow.consents.current(customer.ref)
    if listed is not None:
        fresh = consents.get(uow.policy.followup_purpose)
        if fresh is None or not fresh.given or fresh.decided_at <= listed:
            return "suppressed"
    if customer.flags.unreachable:
        return "unreachable"
    if customer.flags.objected_marketing:
        # Stricter than the rule for non-marketing purposes: an objecting customer
        # gets no unprompted message of any kind.
        return "objected"
    chat = reach(customer, "followup", uow.policy.whatsapp, uow.now())
    if chat is None:
        return no_chat_reason(customer)
    try:
        check_may_contact(uow.policy, customer, uow.policy.followup_purpose, consents)
    except PolicyDenied as denied:
        return denied.code
    if chat.channel == WHATSAPP and not _opted_in_on_whatsapp(uow, consents):
        return "no_whatsapp_optin"
    return None


def _opted_in_on_whatsapp(uow: UnitOfWork, consents: dict[str, ConsentEntry]) -> bool:
    """WhatsApp's rule: the customer's opt-in to the shop's messages there (the policy's
    purpose bound to WhatsApp), given in the WhatsApp chat and in force."""
    bound = [p.key for p in uow.policy.purposes if p.channel == WHATSAPP and p.consent_based]
    entries = [consents.get(key) for key in bound]
    return any(
        e is not None
        and e.channel == WHATSAPP
        and consent_standing(e, uow.policy.notice_version).in_force
        for e in entries
    )


# --- sending a follow-up ------------------------------------------------------------


@dataclass(frozen=True)
class StartFollowup:
    order_id: str
    job: Job
    worker: str
    # Adds the message's button token to the customer's conversation state, so
    # presses on a proactive message validate like any other (bot/conversation/turn.py).
    mark_state: Callable[[dict[str, Any]], None]
    # False: only what waiting for a permit needs (is it still due, to which chat),
    # writing nothing; the policy is checked when the permit comes (mark=True).
    mark: bool = True


@dataclass(frozen=True)
class FollowupStart:
    send: bool
    customer: Customer | None = None
    chat: Chat | None = None  # where it goes, and as a template or not (WhatsApp)
    purchased_at: datetime | None = None


_SKIP = FollowupStart(send=False)


async def start_followup(cmd: StartFollowup, uow: UnitOfWork) -> FollowupStart:
    """Check, and mark "sending" (``cmd.mark``), or close the job without sending."""
    if not await uow.jobs.held(cmd.job.id, cmd.worker):
        return _SKIP  # the lease passed to another worker; it decides
    row = await uow.followups.get(cmd.order_id, lock=cmd.mark)
    if row is None or row.state != "scheduled":
        return await _close_stale(cmd, row, uow)
    try:
        customer = await uow.customers.get(row.customer_ref, lock=cmd.mark)
    except NotFound:
        return await _close_stale(cmd, None, uow)
    if not cmd.mark:
        purchased_at = await uow.purchases.purchased_at(cmd.order_id)
        chat = reach(customer, "followup", uow.policy.whatsapp, uow.now())
        return FollowupStart(True, customer, chat, purchased_at)
    reason = await followup_denial(customer, uow)
    if reason is not None:
        await _suppress(cmd, row, reason, uow)
        return _SKIP
    zone = customer.zone(uow.policy.zone)
    now = uow.now()
    resume = outside_quiet_hours(uow.policy, zone, now)
    if resume > now:
        # Retries can push a follow-up into the night: wait for the morning.
        await retry_job(cmd.job, cmd.worker, "quiet_hours", uow, delay=resume - now)
        return _SKIP
    await uow.followups.move(row, "sending", now)
    state = await uow.conversations.load(customer.ref)
    cmd.mark_state(state)
    await uow.conversations.save(customer.ref, state, now)
    return FollowupStart(True, customer, reach(customer, "followup", uow.policy.whatsapp, now))


async def followup_not_sent(order_id: str, uow: UnitOfWork) -> None:
    """Marked "sending" but certainly not sent (429, 5xx): "scheduled" again, until the
    next permit, so a crash while it waits is not mistaken for a maybe-delivered one."""
    row = await uow.followups.get(order_id, lock=True)
    if row is not None and row.state == "sending":
        await uow.followups.move(row, "scheduled", uow.now(), None)


async def _close_stale(
    cmd: StartFollowup, row: FollowupRow | None, uow: UnitOfWork
) -> FollowupStart:
    if row is not None and row.state == "sending":
        # A previous attempt died mid-send: the message may be out. Never twice.
        await _record_failure(row, "delivery_unknown", "uncertain", uow)
        await complete_job(cmd.job, cmd.worker, uow, state="failed")
    else:
        # Already handled, or the customer (and with them the follow-up) is gone.
        await complete_job(cmd.job, cmd.worker, uow)
    return _SKIP


async def _suppress(cmd: StartFollowup, row: FollowupRow, reason: str, uow: UnitOfWork) -> None:
    await uow.followups.move(row, "suppressed", uow.now(), reason)
    await record_suppressed(row.order_id, row.customer_ref, reason, "send", uow)
    await complete_job(cmd.job, cmd.worker, uow)


async def record_suppressed(
    order_id: str, customer_ref: str, reason: str, at: str, uow: UnitOfWork
) -> None:
    """The audited denial of a follow-up, when scheduled (``at="schedule"``) or sent."""
    await uow.record(
        SYSTEM,
        "followup.suppressed",
        subject_ref=customer_ref,
        outcome="denied",
        purpose=uow.policy.followup_purpose,
        details={"order": order_id, "reason": reason, "at": at},
    )


async def _record_failure(row: FollowupRow, reason: str, state: str, uow: UnitOfWork) -> None:
    await uow.followups.move(row, state, uow.now(), reason)
    await uow.record(
        SYSTEM,
        "followup.failed",
        subject_ref=row.customer_ref,
        outcome="failed",
        purpose=uow.policy.followup_purpose,
        details={"order": row.order_id, "reason": reason},
    )


@dataclass(frozen=True)
class FinishFollowup:
    order_id: str
    job: Job
    worker: str
    delivery: Delivery
    error: str = ""  # an error class name, never a message text


async def finish_followup(cmd: FinishFollowup, uow: UnitOfWork) -> None:
    """Record what happened to a follow-up that was marked "sending"; close or retry its job."""
    row = await uow.followups.get(cmd.order_id, lock=True)
    if row is None:  # erased meanwhile; nothing left to record against
        await complete_job(cmd.job, cmd.worker, uow)
        return
    if cmd.delivery is Delivery.RETRY and cmd.job.attempts < cmd.job.max_attempts:
        # Certainly not delivered: back to "scheduled" so the next attempt may send.
        await uow.followups.move(row, "scheduled", uow.now(), None)
        await retry_job(cmd.job, cmd.worker, cmd.error or "retry", uow)
        return
    if cmd.delivery is Delivery.SENT:
        await uow.followups.move(row, "sent", uow.now())
        await uow.record(
            SYSTEM,
            "followup.sent",
            subject_ref=row.customer_ref,
            purpose=uow.policy.followup_purpose,
            details={"order": row.order_id},
        )
        await complete_job(cmd.job, cmd.worker, uow)
    else:
        await _finish_failed(cmd, row, uow)


_FAILURE = {
    Delivery.BLOCKED: ("blocked", "failed"),
    Delivery.UNKNOWN: ("delivery_unknown", "uncertain"),
    Delivery.REJECTED: ("rejected", "failed"),
    Delivery.RETRY: ("gave_up", "failed"),
}


async def _finish_failed(cmd: FinishFollowup, row: FollowupRow, uow: UnitOfWork) -> None:
    reason, state = _FAILURE[cmd.delivery]
    if cmd.delivery is Delivery.BLOCKED:
        await mark_unreachable(row.customer_ref, uow)
    await _record_failure(row, reason, state, uow)
    await complete_job(cmd.job, cmd.worker, uow, state="failed")
