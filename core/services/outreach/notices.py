"""Use case: tell a customer something in the chat, later and reliably.

A notice is a job (kind ``notify``) in the caller's transaction: it is sent only
if the change it reports was committed, and the outbound worker sends it in the
customer's language, within Telegram's rate limits, retried until delivered.
Parameters must be references and dates, never personal data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from core.domain.job import Job
from core.domain.reach import TELEGRAM, Chat, no_chat_reason, reach
from core.domain.requests import DataRequest
from core.errors import NotFound
from core.services._common import SYSTEM
from core.services.customers import mark_unreachable
from core.services.desk.reasons import open_reason
from core.services.jobs import EnqueueJob, complete_job, enqueue_job, retry_job
from core.services.outreach.followups import Delivery
from core.storage import UnitOfWork

__all__ = [
    "NOTIFY",
    "FinishNotice",
    "NoticeStart",
    "NotifyCustomer",
    "finish_notice",
    "notify_customer",
    "request_params",
    "start_notice",
]

NOTIFY = "notify"


@dataclass(frozen=True)
class NotifyCustomer:
    customer_ref: str
    message_key: str  # a catalog key, e.g. "rights.request_completed"
    key: str  # idempotency key: one notice per key, ever
    params: dict[str, str] = field(default_factory=dict)
    run_after: datetime | None = None
    telegram_only: bool = False  # for the account there, never the app they write from now


def request_params(request: DataRequest) -> dict[str, str]:
    """What a notice about a request says of it: its id, kind, field, and when it was
    asked (UTC; the bot writes it in the customer's time zone and language)."""
    return {
        "request": request.ref,
        "kind": request.kind.value,
        "field": request.detail or "",
        "asked_at": request.received_at.isoformat(),
    }


async def notify_customer(cmd: NotifyCustomer, uow: UnitOfWork) -> bool:
    payload: dict[str, object] = {
        "customer": cmd.customer_ref,
        "message": cmd.message_key,
        "params": cmd.params,
    }
    if cmd.telegram_only:
        payload["via"] = TELEGRAM
    return await enqueue_job(
        EnqueueJob(NOTIFY, f"notify:{cmd.key}", payload, run_after=cmd.run_after), uow
    )


# --- sending a notice (the outbound worker's steps) ------------------------------


@dataclass(frozen=True)
class NoticeStart:
    send: bool
    chat: Chat | None = None  # where it goes, and as a template or not (WhatsApp)
    language: str = "en"
    message_key: str = ""
    params: dict[str, str] | None = None
    zone: str = "UTC"  # the customer's time zone, for dates in the text


async def start_notice(job: Job, worker: str, uow: UnitOfWork) -> NoticeStart:
    """Where and in which language to send a notice, or close its job if it cannot go."""
    ref = str(job.payload.get("customer", ""))
    if not await uow.jobs.held(job.id, worker):
        return NoticeStart(False)
    try:
        customer = await uow.customers.get(ref)
    except NotFound:
        return await _notice_failed(job, worker, ref, "gone", uow)
    chat = reach(customer, "notice", uow.policy.whatsapp, uow.now())
    if job.payload.get("via") == TELEGRAM:
        telegram = customer.telegram_chat_id
        chat = Chat(TELEGRAM, telegram) if telegram is not None else None
    if customer.flags.unreachable or chat is None:
        reason = "unreachable" if customer.flags.unreachable else no_chat_reason(customer)
        return await _notice_failed(job, worker, ref, reason, uow)
    params = {str(k): str(v) for k, v in dict(job.payload.get("params") or {}).items()}
    if "reason" in params:  # sealed in the job; opened only for the message itself
        opened = await open_reason(params["reason"], ref, uow)
        params["reason"], params["reason_category"] = opened.note, opened.category
    zone = str(customer.zone(uow.policy.zone))
    return NoticeStart(True, chat, customer.language, str(job.payload["message"]), params, zone)


async def _notice_failed(
    job: Job, worker: str, ref: str, reason: str, uow: UnitOfWork
) -> NoticeStart:
    await uow.record(
        SYSTEM,
        "notice.failed",
        subject_ref=ref or None,
        outcome="failed",
        details={"message": str(job.payload.get("message", "")), "reason": reason},
    )
    await complete_job(job, worker, uow, state="failed")
    return NoticeStart(False)


@dataclass(frozen=True)
class FinishNotice:
    job: Job
    worker: str
    delivery: Delivery
    error: str = ""


async def finish_notice(cmd: FinishNotice, uow: UnitOfWork) -> None:
    ref = str(cmd.job.payload.get("customer", ""))
    retry = cmd.delivery in (Delivery.RETRY, Delivery.UNKNOWN)
    if retry and cmd.job.attempts < cmd.job.max_attempts:
        await retry_job(cmd.job, cmd.worker, cmd.error or cmd.delivery.value, uow)
        return
    if cmd.delivery is not Delivery.SENT:
        if cmd.delivery is Delivery.BLOCKED:
            await mark_unreachable(ref, uow)
        await _notice_failed(cmd.job, cmd.worker, ref, cmd.delivery.value, uow)
        return
    await uow.record(
        SYSTEM,
        "notice.sent",
        subject_ref=ref,
        details={"message": str(cmd.job.payload.get("message", ""))},
    )
    await complete_job(cmd.job, cmd.worker, uow)
