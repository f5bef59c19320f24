"""Use cases: tell every customer an incident affects, once, in their chat.

``notify_incident`` (assessed -> notified) writes one notice row and one job per
affected customer, page by page, in the entry point's transaction. The outbound
worker then sends each at most once, in steps like a follow-up's: the notice is
marked "sending" (committed) the moment its permit is granted, right before it
leaves; one found "sending" by a later worker may have arrived, so it becomes
"uncertain" and is never sent twice (the report lists it). Customers erased since,
or who blocked the bot, are counted, not messaged. A notice carries codes only;
the bot writes it from catalog texts in the customer's language.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from core.domain.customer import Customer
from core.domain.incident import Incident, IncidentState
from core.domain.job import Job
from core.domain.reach import Chat, reach
from core.errors import InvalidTransition, NotFound, PrivacyError
from core.services._common import SYSTEM, refuse
from core.services.customers import mark_unreachable
from core.services.incidents.record import incident_actor
from core.services.jobs import complete_job, retry_job
from core.services.outreach.followups import Delivery
from core.storage import UnitOfWork

__all__ = [
    "INCIDENT_NOTICE",
    "FinishIncidentNotice",
    "IncidentNoticeStart",
    "NotifyIncident",
    "StartIncidentNotice",
    "finish_incident_notice",
    "incident_notice_not_sent",
    "notify_incident",
    "start_incident_notice",
]

INCIDENT_NOTICE = "incident_notice"
_PAGE = 500


@dataclass(frozen=True)
class NotifyIncident:
    by: int | None
    incident_ref: str


async def notify_incident(cmd: NotifyIncident, uow: UnitOfWork) -> int:
    """Queue a notice for every affected customer; how many were queued."""
    actor = await incident_actor(cmd.by, "incident.notified", uow)
    incident = await uow.incidents.get(cmd.incident_ref, lock=True)
    try:
        if incident.state is not IncidentState.ASSESSED:
            raise InvalidTransition(
                "assess the incident (risk, measures) before telling customers",
                code="not_assessed",
            )
        incident.move_to(IncidentState.NOTIFIED, uow.now(), "customers notified")
    except PrivacyError as error:
        await refuse(uow, actor, "incident.notified", error, subject_ref=None)
    queued, after = 0, ""
    while page := await uow.incidents.affected(incident, after, _PAGE):
        now = uow.now()
        await uow.incidents.add_notices(incident.ref, page, now)
        jobs = {
            f"incident:{incident.ref}:{a.customer_ref}": {
                "incident": incident.ref,
                "customer": a.customer_ref,
            }
            for a in page
        }
        await uow.jobs.enqueue_many(INCIDENT_NOTICE, jobs, run_after=now, now=now, max_attempts=50)
        queued += len(page)
        after = page[-1].customer_ref
    await uow.incidents.save(incident)
    erased = sum((await uow.incidents.erased_since(incident)).values())
    await uow.record(
        actor,
        "incident.notified",
        subject_ref=None,
        details={"incident": incident.ref, "customers": queued, "erased": erased},
    )
    return queued


# --- sending one notice (the outbound worker's steps) -------------------------------


@dataclass(frozen=True)
class StartIncidentNotice:
    job: Job
    worker: str
    # Adds the message's button token to the customer's conversation state.
    mark_state: Callable[[dict[str, Any]], None]
    # False: only read what sending needs; True (the permit came): mark "sending".
    mark: bool = True


@dataclass(frozen=True)
class IncidentNoticeStart:
    send: bool
    customer: Customer | None = None
    chat: Chat | None = None  # where it goes, and as a template or not (WhatsApp)
    incident: Incident | None = None
    categories: tuple[str, ...] = ()  # the incident's categories this customer has


_SKIP = IncidentNoticeStart(False)


async def start_incident_notice(cmd: StartIncidentNotice, uow: UnitOfWork) -> IncidentNoticeStart:
    """Whether to send this customer's notice now; closes its job where it cannot go."""
    incident_ref = str(cmd.job.payload["incident"])
    customer_ref = str(cmd.job.payload["customer"])
    if not await uow.jobs.held(cmd.job.id, cmd.worker):
        return _SKIP
    state = await uow.incidents.notice_state(incident_ref, customer_ref)
    if state is None:
        await complete_job(cmd.job, cmd.worker, uow)
        return _SKIP
    if state != "queued":
        # "sending" here: a worker died around the send; it may have arrived.
        final = "uncertain" if state == "sending" else state
        return await _settle(cmd.job, cmd.worker, incident_ref, customer_ref, final, uow)
    try:
        customer = await uow.customers.get(customer_ref)
    except NotFound:  # erased since the incident was notified
        return await _settle(cmd.job, cmd.worker, incident_ref, customer_ref, "erased", uow)
    chat = reach(customer, "incident", uow.policy.whatsapp, uow.now())
    if customer.flags.unreachable or chat is None:
        return await _settle(cmd.job, cmd.worker, incident_ref, customer_ref, "undeliverable", uow)
    if cmd.mark:  # the permit came: the message was written in the first step
        now = uow.now()
        await uow.incidents.move_notice(incident_ref, customer_ref, "sending", now)
        conversation = await uow.conversations.load(customer_ref)
        cmd.mark_state(conversation)
        await uow.conversations.save(customer_ref, conversation, now)
        return IncidentNoticeStart(True, customer, chat)
    incident = await uow.incidents.get(incident_ref, summary=False)
    held = await uow.incidents.held_categories(customer_ref, incident.categories)
    return IncidentNoticeStart(True, customer, chat, incident, tuple(held) or incident.categories)


async def incident_notice_not_sent(job: Job, uow: UnitOfWork) -> None:
    """Marked "sending" but certainly not sent (429, 5xx): queued again."""
    incident_ref, customer_ref = str(job.payload["incident"]), str(job.payload["customer"])
    if await uow.incidents.notice_state(incident_ref, customer_ref) == "sending":
        await uow.incidents.move_notice(incident_ref, customer_ref, "queued", uow.now())


@dataclass(frozen=True)
class FinishIncidentNotice:
    job: Job
    worker: str
    delivery: Delivery


_FINAL = {
    Delivery.SENT: "sent",
    Delivery.BLOCKED: "undeliverable",
    Delivery.REJECTED: "undeliverable",
    Delivery.UNKNOWN: "uncertain",
    Delivery.RETRY: "undeliverable",  # gave up after every retry
}


async def finish_incident_notice(cmd: FinishIncidentNotice, uow: UnitOfWork) -> None:
    incident_ref = str(cmd.job.payload["incident"])
    customer_ref = str(cmd.job.payload["customer"])
    if cmd.delivery is Delivery.RETRY and cmd.job.attempts < cmd.job.max_attempts:
        await incident_notice_not_sent(cmd.job, uow)
        await retry_job(cmd.job, cmd.worker, "retry", uow)
        return
    if cmd.delivery is Delivery.BLOCKED:
        await mark_unreachable(customer_ref, uow)
    await _settle(cmd.job, cmd.worker, incident_ref, customer_ref, _FINAL[cmd.delivery], uow)


async def _settle(
    job: Job, worker: str, incident_ref: str, customer_ref: str, state: str, uow: UnitOfWork
) -> IncidentNoticeStart:
    """The notice's last state, audited (by pseudonym), and its job closed."""
    await uow.incidents.move_notice(incident_ref, customer_ref, state, uow.now())
    await uow.record(
        SYSTEM,
        "incident.notice_sent" if state == "sent" else "incident.notice_failed",
        subject_ref=None if state == "erased" else customer_ref,
        outcome="ok" if state == "sent" else "failed",
        details={"incident": incident_ref, "state": state},
    )
    # The job is done either way: the notice's own row says how it ended.
    await complete_job(job, worker, uow)
    return _SKIP
