"""Use cases: data subject requests on their legal clocks.

Every request gets its due date from the customer's jurisdiction at receipt; kinds
the policy marks for approval wait for staff, others go straight to work. Every
step is audited; the bot tells the customer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core.domain.actor import Actor
from core.domain.job import REQUEST_JOBS, request_job_key
from core.domain.requests import DataRequest, RequestKind, RequestState, Waiting
from core.errors import InvalidInput, InvalidTransition, NotFound, PrivacyError
from core.ids import new_ref
from core.services._common import customer_actor, refuse
from core.services.agents.following import follow_data_request
from core.storage import UnitOfWork

__all__ = [
    "MAX_ANSWER",
    "AnswerRequest",
    "CancelRequest",
    "ExtendRequest",
    "MoveRequest",
    "OpenRequest",
    "ResumeRequest",
    "WaitForCustomer",
    "answer_request",
    "cancel_request",
    "customer_requests",
    "extend_request",
    "move_request",
    "open_request",
    "request_queue",
    "resume_request",
    "resume_waiting",
    "wait_for_customer",
]

MAX_ANSWER = 1000


@dataclass(frozen=True)
class OpenRequest:
    customer_ref: str
    kind: RequestKind
    channel: str = "telegram"
    detail: str | None = None  # what it is about: a correction's field
    # When it reached the shop, if before now (an authorized agent's request, confirmed
    # by the customer later: the legal clock runs from the agent's call).
    received_at: datetime | None = None


async def open_request(cmd: OpenRequest, uow: UnitOfWork) -> DataRequest:
    """Record the request; the work it starts joins the caller's transaction."""
    customer = await uow.customers.get(cmd.customer_ref, lock=True)
    regime = uow.policy.jurisdiction(customer.jurisdiction)
    now = uow.now()
    received = min(cmd.received_at or now, now)
    request = DataRequest(
        ref=new_ref("q"),
        customer_ref=customer.ref,
        kind=cmd.kind,
        jurisdiction=regime.key,
        received_at=received,
        due_at=regime.response_due(received),
        history=[(received, RequestState.RECEIVED, None)],
        detail=cmd.detail,
    )
    if not uow.policy.needs_approval(cmd.kind.value):
        request.move_to(RequestState.IN_PROGRESS, now, "automatic")
    await uow.requests.add(request)
    await uow.record(
        customer_actor(customer.ref),
        "request.opened",
        subject_ref=customer.ref,
        details={
            "request": request.ref,
            "kind": cmd.kind.value,
            "regime": regime.key,
            "due": request.due_at.date().isoformat(),
            "state": request.state.value,
            "channel": cmd.channel,
        },
    )
    return request


@dataclass(frozen=True)
class MoveRequest:
    request_ref: str
    to: RequestState
    actor: Actor
    note: str | None = None


async def move_request(cmd: MoveRequest, uow: UnitOfWork) -> DataRequest:
    """Change a request's state; rejections need a reason."""
    action = f"request.{cmd.to.value}"
    request = await uow.requests.get(cmd.request_ref, lock=True)
    try:
        if cmd.to is RequestState.REJECTED and not (cmd.note or "").strip():
            raise InvalidInput("a rejection needs a reason", code="reason_required")
        request.move_to(cmd.to, uow.now(), _clean(cmd.note))
    except PrivacyError as error:
        await refuse(uow, cmd.actor, action, error, subject_ref=request.customer_ref)
    await uow.requests.save(request)
    # The decision starts (or ends) the work waiting for it, in this transaction.
    await uow.jobs.wake([request_job_key(k, request.ref) for k in REQUEST_JOBS], now=uow.now())
    await follow_data_request(request, uow)  # an agent that sent it is told
    await uow.record(
        cmd.actor,
        action,
        subject_ref=request.customer_ref,
        details={"request": request.ref, "kind": request.kind.value},
    )
    return request


@dataclass(frozen=True)
class CancelRequest:
    customer_ref: str
    request_ref: str


async def cancel_request(cmd: CancelRequest, uow: UnitOfWork) -> DataRequest:
    """The customer calls off a request no work has begun on; a correction's new
    value, waiting for approval, is deleted with it."""
    actor = customer_actor(cmd.customer_ref)
    request = await uow.requests.get(cmd.request_ref, lock=True)
    if request.customer_ref != cmd.customer_ref:  # forged: as if it did not exist
        unknown = NotFound("no such request", code="unknown_request")
        await refuse(uow, actor, "request.cancelled", unknown, subject_ref=cmd.customer_ref)
    if not request.state.cancellable:
        late = InvalidTransition(
            f"a {request.state} request cannot be cancelled", code="not_cancellable"
        )
        await refuse(uow, actor, "request.cancelled", late, subject_ref=request.customer_ref)
    await uow.requests.take_pending(request.ref)
    return await move_request(
        MoveRequest(request.ref, RequestState.CANCELLED, actor, "cancelled by the customer"), uow
    )


@dataclass(frozen=True)
class ExtendRequest:
    request_ref: str
    actor: Actor
    reason: str


async def extend_request(cmd: ExtendRequest, uow: UnitOfWork) -> DataRequest:
    """Push the due date out once, where the regime allows it, for a stated reason."""
    request = await uow.requests.get(cmd.request_ref, lock=True)
    try:
        if not cmd.reason.strip():
            raise InvalidInput("an extension needs a reason", code="reason_required")
        regime = uow.policy.jurisdiction(request.jurisdiction)
        paused = regime.paused_total((p for p in request.pauses if p.until), uow.now())
        due = regime.shifted(regime.extended_due(request.received_at), paused)
        request.extend(due, uow.now(), _clean(cmd.reason) or "")
    except PrivacyError as error:
        await refuse(uow, cmd.actor, "request.extended", error, subject_ref=request.customer_ref)
    await uow.requests.save(request)
    await follow_data_request(request, uow)
    await uow.record(
        cmd.actor,
        "request.extended",
        subject_ref=request.customer_ref,
        details={"request": request.ref, "due": request.due_at.date().isoformat()},
    )
    return request


@dataclass(frozen=True)
class WaitForCustomer:
    request_ref: str
    need: Waiting
    actor: Actor


async def wait_for_customer(cmd: WaitForCustomer, uow: UnitOfWork) -> DataRequest:
    """received -> verifying: the shop asked the customer for ``need`` (where the
    regime allows, its clock stops until they answer)."""
    request = await uow.requests.get(cmd.request_ref, lock=True)
    try:
        request.wait_for_customer(cmd.need, uow.now())
    except PrivacyError as error:
        await refuse(uow, cmd.actor, "request.waiting", error, subject_ref=request.customer_ref)
    await uow.requests.save(request)
    await uow.record(
        cmd.actor,
        "request.waiting",
        subject_ref=request.customer_ref,
        details={"request": request.ref, "need": cmd.need.value},
    )
    return request


@dataclass(frozen=True)
class ResumeRequest:
    request_ref: str
    actor: Actor
    note: str


async def resume_request(cmd: ResumeRequest, uow: UnitOfWork) -> DataRequest:
    """verifying -> received: the wait is over; the due date moves on by the days
    waited where the regime stops its clock (the audit says by how many)."""
    request = await uow.requests.get(cmd.request_ref, lock=True)
    regime = uow.policy.jurisdiction(request.jurisdiction)
    now = uow.now()
    try:
        pause = request.pauses[-1] if request.waiting_for else None
        if pause is None:
            raise InvalidTransition(f"a {request.state} request is not waiting for the customer")
        paused = regime.paused_days(pause.since, now)
        request.resume(now, _clean(cmd.note) or "", regime.shifted(request.due_at, paused))
    except PrivacyError as error:
        await refuse(uow, cmd.actor, "request.resumed", error, subject_ref=request.customer_ref)
    await uow.requests.save(request)
    await follow_data_request(request, uow)
    await uow.record(
        cmd.actor,
        "request.resumed",
        subject_ref=request.customer_ref,
        details={
            "request": request.ref,
            "paused_days": paused,
            "due": request.due_at.date().isoformat(),
        },
    )
    return request


async def resume_waiting(customer_ref: str, need: Waiting, uow: UnitOfWork) -> list[DataRequest]:
    """The customer gave what their requests waited for (say, proof of identity)."""
    actor = customer_actor(customer_ref)
    waiting = [r for r in await uow.requests.for_customer(customer_ref) if r.waiting_for is need]
    return [
        await resume_request(ResumeRequest(r.ref, actor, f"the customer gave the {need}"), uow)
        for r in waiting
    ]


@dataclass(frozen=True)
class AnswerRequest:
    customer_ref: str
    request_ref: str
    text: str


async def answer_request(cmd: AnswerRequest, uow: UnitOfWork) -> DataRequest:
    """The customer's answer to the shop's question: kept encrypted with their key
    (never in the audit), and the request goes on."""
    actor = customer_actor(cmd.customer_ref)
    request = await uow.requests.get(cmd.request_ref, lock=True)
    text = " ".join(cmd.text.split())
    try:
        if request.customer_ref != cmd.customer_ref:  # forged: as if it did not exist
            raise NotFound("no such request", code="unknown_request")
        if request.waiting_for is not Waiting.CLARIFICATION:
            raise InvalidTransition("the request is not waiting for an answer", code="not_waiting")
        if not text or len(text) > MAX_ANSWER:
            raise InvalidInput(f"an answer is 1 to {MAX_ANSWER} characters", code="bad_answer")
    except PrivacyError as error:
        await refuse(uow, actor, "request.answered", error, subject_ref=cmd.customer_ref)
    await uow.requests.add_answer(request.ref, request.customer_ref, text, uow.now())
    await uow.record(
        actor,
        "request.answered",
        subject_ref=request.customer_ref,
        details={"request": request.ref},
    )
    return await resume_request(ResumeRequest(request.ref, actor, "the customer answered"), uow)


async def customer_requests(customer_ref: str, uow: UnitOfWork) -> list[DataRequest]:
    return await uow.requests.for_customer(customer_ref)


async def request_queue(
    uow: UnitOfWork, *, limit: int = 1000, offset: int = 0
) -> list[DataRequest]:
    """Open requests, soonest due first."""
    return await uow.requests.open_requests(limit=limit, offset=offset)


def _clean(note: str | None) -> str | None:
    # Notes are kept as proof; cap them so a pasted document cannot land here.
    return None if note is None else " ".join(note.split())[:300]
