"""Use cases of the staff desk: the request queue on its legal clocks, and decisions.

Every use case takes ``by``: the acting staff member's Telegram id, checked
against the policy on every call (no caching, so a removed member loses access at
once), or ``None`` for the server's CLI, whose operator already holds the
database and the master key. Decisions are audited and the customer is told in
the chat (a ``notify`` job in the same transaction).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from core.audit import AuditEntry, VerifyResult
from core.domain.actor import Actor
from core.domain.job import REQUEST_JOBS, request_job_key
from core.domain.policy import Permission
from core.domain.requests import DataRequest, RequestKind, RequestState
from core.errors import InvalidInput, InvalidTransition
from core.services._common import SYSTEM, refuse
from core.services.audit import audit_tail, verify_audit
from core.services.desk.alerts import queue_watchers
from core.services.desk.duties import refuse_own_request, second_approver_needed
from core.services.desk.reasons import MAX_REASON, seal_reason
from core.services.outreach.notices import NotifyCustomer, notify_customer, request_params
from core.services.requests import (
    ExtendRequest,
    MoveRequest,
    extend_request,
    move_request,
    request_queue,
)
from core.services.retention import RetentionPlan, run_retention
from core.services.staff import authorise, staff_actor
from core.storage import UnitOfWork

__all__ = [
    "CLI",
    "DUE_SOON",
    "MAX_REASON",
    "ApprovalHook",
    "DecideRequest",
    "Digest",
    "QueueItem",
    "QueuePage",
    "Urgency",
    "ViewQueue",
    "ViewRequest",
    "approve_request",
    "daily_digest",
    "desk_audit_tail",
    "desk_retention",
    "desk_verify_audit",
    "due_soon_or_overdue",
    "extend_with_notice",
    "load_desk_state",
    "local_due_date",
    "on_approval",
    "permit",
    "reject_request",
    "save_desk_state",
    "stuck_requests",
    "tell_customer",
    "urgency",
    "view_queue",
    "view_request",
]

CLI = Actor("cli", "system")
DUE_SOON = timedelta(days=3)
_APPROVABLE = (RequestState.RECEIVED, RequestState.VERIFYING)

ApprovalHook = Callable[[DataRequest, UnitOfWork], Awaitable[None]]
_HOOKS: dict[RequestKind, ApprovalHook] = {}


def on_approval(kind: RequestKind) -> Callable[[ApprovalHook], ApprovalHook]:
    """Register work that starts, in the approval's transaction, when staff approve ``kind``.

    None is needed for the data rights: their jobs (erasure, rectify) exist from the
    request on and poll its state, so moving it to in_progress is what starts them.
    """

    def register(hook: ApprovalHook) -> ApprovalHook:
        _HOOKS[kind] = hook
        return hook

    return register


async def permit(by: int | None, permission: Permission, action: str, uow: UnitOfWork) -> Actor:
    """The actor to audit, once the policy lets ``by`` do this (else an audited denial)."""
    if by is None:
        return CLI
    await authorise(by, permission.value, action, uow)
    return staff_actor(by, uow)


def local_due_date(request: DataRequest, uow: UnitOfWork) -> str:
    """The due day as the regime counts it (a day ends at local midnight)."""
    zone = uow.policy.jurisdiction(request.jurisdiction).zone
    return request.due_at.astimezone(zone).date().isoformat()


class Urgency(StrEnum):
    OVERDUE = "overdue"
    DUE_SOON = "due_soon"
    ON_TRACK = "on_track"


def urgency(request: DataRequest, now: datetime) -> Urgency:
    if request.due_at <= now:
        return Urgency.OVERDUE
    return Urgency.DUE_SOON if request.due_at <= now + DUE_SOON else Urgency.ON_TRACK


@dataclass(frozen=True)
class QueueItem:
    request: DataRequest
    urgency: Urgency
    stuck: bool = False  # being carried out, with no job left to carry it out


@dataclass(frozen=True)
class QueuePage:
    items: list[QueueItem]
    page: int
    has_more: bool
    stuck: list[DataRequest] = field(default_factory=list)  # all of them, on every page


@dataclass(frozen=True)
class ViewQueue:
    by: int | None
    page: int = 0
    size: int = 5


async def view_queue(cmd: ViewQueue, uow: UnitOfWork) -> QueuePage:
    """Open requests, soonest due first, one page (requests carry no personal data),
    and every stuck request, whichever page it falls on."""
    await permit(cmd.by, Permission.QUEUE_VIEW, "desk.queue", uow)
    page = max(0, cmd.page)
    found = await request_queue(uow, limit=cmd.size + 1, offset=page * cmd.size)
    stuck = await stuck_requests(uow)
    items = _items(found[: cmd.size], stuck, uow.now())
    return QueuePage(items, page, len(found) > cmd.size, stuck)


async def due_soon_or_overdue(uow: UnitOfWork) -> list[QueueItem]:
    """Open requests overdue, due within ``DUE_SOON`` or stuck, soonest first (the daily
    digest)."""
    now = uow.now()
    stuck = await stuck_requests(uow)
    refs = {r.ref for r in stuck}
    found = [r for r in await request_queue(uow) if r.due_at <= now + DUE_SOON or r.ref in refs]
    return _items(found, stuck, now)


async def stuck_requests(uow: UnitOfWork) -> list[DataRequest]:
    """Requests being carried out that no job will carry out any more: it gave up after
    its attempts, or none was ever made (a kind whose approval starts nothing)."""
    working = [r for r in await uow.requests.open_requests() if r.state is RequestState.IN_PROGRESS]
    keys = {r.ref: {request_job_key(k, r.ref) for k in REQUEST_JOBS} for r in working}
    live = await uow.jobs.live_keys(sorted(k for ks in keys.values() for k in ks))
    return [r for r in working if not keys[r.ref] & live]


def _items(found: list[DataRequest], stuck: list[DataRequest], now: datetime) -> list[QueueItem]:
    refs = {r.ref for r in stuck}
    return [QueueItem(r, urgency(r, now), r.ref in refs) for r in found]


@dataclass(frozen=True)
class ViewRequest:
    by: int | None
    request_ref: str


async def view_request(cmd: ViewRequest, uow: UnitOfWork) -> DataRequest:
    await permit(cmd.by, Permission.REQUEST_VIEW, "desk.request", uow)
    return await uow.requests.get(cmd.request_ref)


@dataclass(frozen=True)
class DecideRequest:
    by: int | None
    request_ref: str
    reason: str = ""


async def approve_request(cmd: DecideRequest, uow: UnitOfWork) -> DataRequest:
    """received/verifying -> in_progress; the work starts and the customer is told.
    Kinds that need four eyes stay where they are after the first approval (noted
    in the history) until a second, different staff member approves."""
    actor = await permit(cmd.by, Permission.REQUEST_APPROVE, "request.approve", uow)
    current = await uow.requests.get(cmd.request_ref, lock=True)
    if current.state not in _APPROVABLE:
        error = InvalidTransition(f"a {current.state} request cannot be approved")
        await refuse(uow, actor, "request.approve", error, subject_ref=current.customer_ref)
    await refuse_own_request(cmd.by, actor, current.ref, "request.approve", uow)
    if await second_approver_needed(actor, current, uow):
        await uow.requests.save(current)
        await uow.record(
            actor,
            "request.approve",
            subject_ref=current.customer_ref,
            details={"request": current.ref, "kind": current.kind.value, "approval": "first"},
        )
        return current
    request = await move_request(
        MoveRequest(cmd.request_ref, RequestState.IN_PROGRESS, actor, "approved"), uow
    )
    if request.kind in _HOOKS:
        await _HOOKS[request.kind](request, uow)
    await tell_customer(request, "staff.notice.approved", "approved", uow)
    return request


async def reject_request(cmd: DecideRequest, uow: UnitOfWork) -> DataRequest:
    """-> rejected, with the staff member's reason, which the customer is told."""
    actor = await permit(cmd.by, Permission.REQUEST_REJECT, "request.reject", uow)
    await refuse_own_request(cmd.by, actor, cmd.request_ref, "request.reject", uow)
    reason = await _required_reason(cmd, actor, "request.reject", uow)
    request = await move_request(
        MoveRequest(cmd.request_ref, RequestState.REJECTED, actor, reason), uow
    )
    await tell_customer(request, "staff.notice.rejected", "rejected", uow, reason=reason)
    return request


async def extend_with_notice(cmd: DecideRequest, uow: UnitOfWork) -> DataRequest:
    """Extend once where the regime allows; the customer is told the new date and why."""
    actor = await permit(cmd.by, Permission.REQUEST_EXTEND, "request.extend", uow)
    await refuse_own_request(cmd.by, actor, cmd.request_ref, "request.extended", uow)
    reason = await _required_reason(cmd, actor, "request.extended", uow)
    request = await extend_request(ExtendRequest(cmd.request_ref, actor, reason), uow)
    await tell_customer(request, "staff.notice.extended", "extended", uow, reason=reason)
    return request


async def _required_reason(cmd: DecideRequest, actor: Actor, action: str, uow: UnitOfWork) -> str:
    """The reason in its stored form: its text sealed under the customer's key."""
    request = await uow.requests.get(cmd.request_ref)
    reason = await seal_reason(cmd.reason, request.customer_ref, uow)
    if not reason:
        error = InvalidInput("a reason is required", code="reason_required")
        await refuse(uow, actor, action, error, subject_ref=request.customer_ref)
    return reason


async def tell_customer(
    request: DataRequest, message: str, step: str, uow: UnitOfWork, *, reason: str = ""
) -> None:
    params = {**request_params(request), "due": local_due_date(request, uow)}
    if reason:
        params["reason"] = reason
    await notify_customer(
        NotifyCustomer(request.customer_ref, message, f"{step}:{request.ref}", params), uow
    )


async def load_desk_state(telegram_id: int, uow: UnitOfWork) -> dict[str, Any]:
    """Where a staff member is in the desk's dialogs (references only, no personal data)."""
    return await uow.staff.load_state(telegram_id)


async def save_desk_state(telegram_id: int, state: dict[str, Any], uow: UnitOfWork) -> None:
    if state:
        await uow.staff.save_state(telegram_id, state, uow.now())
    else:
        await uow.staff.clear_state(telegram_id)


async def desk_verify_audit(by: int | None, uow: UnitOfWork) -> VerifyResult:
    await permit(by, Permission.AUDIT_VERIFY, "desk.audit_verify", uow)
    return await verify_audit(uow)


async def desk_audit_tail(by: int | None, n: int, uow: UnitOfWork) -> list[AuditEntry]:
    await permit(by, Permission.AUDIT_TAIL, "desk.audit_tail", uow)
    return await audit_tail(n, uow)


async def desk_retention(by: int | None, uow: UnitOfWork, *, dry_run: bool) -> dict[str, int]:
    """The periodic clean-up's totals per kind of record: planned (dry run) or removed."""
    actor = await permit(by, Permission.RETENTION_RUN, "desk.retention", uow)
    plan: RetentionPlan = await run_retention(uow, dry_run=dry_run, actor=actor)
    return plan.totals()


@dataclass(frozen=True)
class Digest:
    """Who gets the daily digest (staff who may see the queue) and what it lists."""

    recipients: list[int]
    items: list[QueueItem]
    due: dict[str, str]  # request ref -> local due date


async def daily_digest(uow: UnitOfWork) -> Digest:
    """Requests overdue or due within 3 days, for every member holding ``queue.view``."""
    items = await due_soon_or_overdue(uow)
    recipients = await queue_watchers(uow)
    if items and recipients:
        overdue = sum(1 for i in items if i.urgency is Urgency.OVERDUE)
        details = {"requests": len(items), "overdue": overdue, "recipients": len(recipients)}
        await uow.record(SYSTEM, "desk.digest", subject_ref=None, details=details)
    return Digest(recipients, items, {i.request.ref: local_due_date(i.request, uow) for i in items})
