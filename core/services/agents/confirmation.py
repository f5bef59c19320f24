"""Use cases: the customer is asked, in their own chat, whether an agent's request is theirs.

``ask_customer`` queues the question (an ``agent_ask`` job, sent at least once) and a
deadline (an ``agent_timeout`` job): unanswered after ``CONFIRM_WITHIN`` the request
is denied ``insuf_verification``. ``answer_agent_request`` takes the customer's
answer: "no" denies it ``suspected_fraud`` and alerts the staff; "yes" opens the
ordinary data request on the customer's legal clock (with staff approval where the
policy asks), which the agent's status follows from then on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from core.domain.actor import Actor
from core.domain.agent_request import AgentAction, AgentReason, AgentRequest, AgentStatus
from core.domain.customer import Customer
from core.domain.job import Job
from core.domain.reach import Chat, reach
from core.domain.requests import DataRequest, RequestKind
from core.errors import InvalidTransition, NotFound, PrivacyError, RateLimited
from core.services._common import SYSTEM, customer_actor, refuse
from core.services.agents.following import changed
from core.services.desk.alerts import AlertStaff, alert_staff
from core.services.jobs import EnqueueJob, complete_job, enqueue_job, retry_job
from core.services.outreach.followups import Delivery
from core.services.rights.erasure import RequestErasure, request_erasure
from core.services.rights.export import RequestExport, request_export
from core.services.rights.processing import Flag, SetFlag, set_processing_flag
from core.services.rights.requests import OpenRight, complete_request, open_right
from core.storage import UnitOfWork

__all__ = [
    "AGENT_ASK",
    "AGENT_TIMEOUT",
    "CONFIRM_WITHIN",
    "AnswerAgent",
    "Answered",
    "FinishQuestion",
    "QuestionStart",
    "StartQuestion",
    "answer_agent_request",
    "ask_customer",
    "expire_question",
    "finish_question",
    "start_question",
]

AGENT_ASK = "agent_ask"
AGENT_TIMEOUT = "agent_timeout"
CONFIRM_WITHIN = timedelta(days=14)


async def ask_customer(request: AgentRequest, customer: Customer, uow: UnitOfWork) -> None:
    """Queue the question, or deny at once when the customer cannot be asked."""
    now = uow.now()
    if customer.flags.unreachable or reach(customer, "agent", uow.policy.whatsapp, now) is None:
        request.move(AgentStatus.DENIED, now, AgentReason.INSUF_VERIFICATION, detail="unreachable")
        return
    request.move(AgentStatus.IN_PROGRESS, now, AgentReason.NEED_USER_VERIFICATION, detail="asked")
    request.expected_by = now + CONFIRM_WITHIN
    payload = {"request": request.request_id}
    await enqueue_job(
        EnqueueJob(AGENT_ASK, f"{AGENT_ASK}:{request.request_id}", payload, max_attempts=20), uow
    )
    await enqueue_job(
        EnqueueJob(
            AGENT_TIMEOUT,
            f"{AGENT_TIMEOUT}:{request.request_id}",
            payload,
            run_after=now + CONFIRM_WITHIN,
        ),
        uow,
    )


# --- sending the question (the outbound worker's steps) -----------------------------


@dataclass(frozen=True)
class StartQuestion:
    job: Job
    worker: str
    # Adds the question's button token to the customer's conversation state.
    mark_state: Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class QuestionStart:
    send: bool
    customer: Customer | None = None
    chat: Chat | None = None  # where it goes, and as a template or not (WhatsApp)
    request: AgentRequest | None = None


async def start_question(cmd: StartQuestion, uow: UnitOfWork) -> QuestionStart:
    """Whether to ask now; the buttons are accepted from this transaction on."""
    if not await uow.jobs.held(cmd.job.id, cmd.worker):
        return QuestionStart(False)
    # Locked, both: an answer, a revoke or a turn of theirs waits for this step.
    request = await uow.agents.find(str(cmd.job.payload["request"]), lock=True)
    if request is None or not request.awaiting_customer or request.customer_ref is None:
        await complete_job(cmd.job, cmd.worker, uow)  # answered, revoked or expired meanwhile
        return QuestionStart(False)
    try:
        customer = await uow.customers.get(request.customer_ref, lock=True)
    except NotFound:
        customer = None
    chat = reach(customer, "agent", uow.policy.whatsapp, uow.now()) if customer else None
    if customer is None or chat is None or customer.flags.unreachable:
        await _unreachable(request, cmd.job, cmd.worker, uow)
        return QuestionStart(False)
    conversation = await uow.conversations.load(customer.ref)
    cmd.mark_state(conversation)
    await uow.conversations.save(customer.ref, conversation, uow.now())
    return QuestionStart(True, customer, chat, request)


@dataclass(frozen=True)
class FinishQuestion:
    job: Job
    worker: str
    delivery: Delivery


async def finish_question(cmd: FinishQuestion, uow: UnitOfWork) -> None:
    retry = cmd.delivery in (Delivery.RETRY, Delivery.UNKNOWN)
    if retry and cmd.job.attempts < cmd.job.max_attempts:
        await retry_job(cmd.job, cmd.worker, cmd.delivery.value, uow)
        return
    request = await uow.agents.get(str(cmd.job.payload["request"]), lock=True)
    if cmd.delivery is not Delivery.SENT:
        await _unreachable(request, cmd.job, cmd.worker, uow)
        return
    await uow.record(
        SYSTEM,
        "agent.asked",
        subject_ref=request.customer_ref,
        details={"agent": request.agent_id, "request": request.request_id},
    )
    await complete_job(cmd.job, cmd.worker, uow)


async def _unreachable(request: AgentRequest, job: Job, worker: str, uow: UnitOfWork) -> None:
    if request.awaiting_customer:
        request.move(
            AgentStatus.DENIED, uow.now(), AgentReason.INSUF_VERIFICATION, detail="unreachable"
        )
        await changed(request, uow)
    await complete_job(job, worker, uow, state="failed")


async def expire_question(job: Job, worker: str, uow: UnitOfWork) -> None:
    """The deadline: a question still unanswered denies the request."""
    request = await uow.agents.find(str(job.payload["request"]), lock=True)
    if request is not None and request.awaiting_customer:
        request.move(
            AgentStatus.DENIED, uow.now(), AgentReason.INSUF_VERIFICATION, detail="unanswered"
        )
        await changed(request, uow)
        await uow.record(
            SYSTEM,
            "agent.unanswered",
            subject_ref=request.customer_ref,
            details={"agent": request.agent_id, "request": request.request_id},
        )
    await complete_job(job, worker, uow)


# --- the customer's answer -------------------------------------------------------------


@dataclass(frozen=True)
class AnswerAgent:
    customer_ref: str
    request_id: str
    yes: bool
    channel: str = "telegram"


@dataclass(frozen=True)
class Answered:
    """The agent's request after the answer, and (yes) the data request it became;
    ``background``: an export built by a job rather than in the customer's turn."""

    request: AgentRequest
    data_request: DataRequest | None = None
    background: bool = False


async def answer_agent_request(cmd: AnswerAgent, uow: UnitOfWork) -> Answered:
    actor = customer_actor(cmd.customer_ref)
    action = "agent.confirmed" if cmd.yes else "agent.disowned"
    request = await _asked_of(cmd, actor, action, uow)
    if not cmd.yes:
        return await _disowned(request, uow)
    try:
        async with uow.attempt():  # a refused copy (rate limit) denies the agent's request
            answered = await _carry_out(request, cmd, uow)
    except RateLimited:
        request.move(
            AgentStatus.DENIED, uow.now(), AgentReason.TOO_MANY_REQUESTS, detail="declined"
        )
        answered = Answered(request)
    await changed(request, uow)
    await _audit(request, actor, action, uow)
    return answered


async def _asked_of(cmd: AnswerAgent, actor: Actor, action: str, uow: UnitOfWork) -> AgentRequest:
    try:
        request = await uow.agents.get(cmd.request_id, lock=True)
        if request.customer_ref != cmd.customer_ref:  # forged: as if it did not exist
            raise NotFound("no such agent request", code="unknown_request")
        if not request.awaiting_customer:
            raise InvalidTransition("the request was answered or closed", code="answered")
    except PrivacyError as error:
        await refuse(uow, actor, action, error, subject_ref=cmd.customer_ref)
    return request


async def _disowned(request: AgentRequest, uow: UnitOfWork) -> Answered:
    request.move(AgentStatus.DENIED, uow.now(), AgentReason.SUSPECTED_FRAUD, detail="disowned")
    await changed(request, uow)
    assert request.customer_ref is not None
    await _audit(request, customer_actor(request.customer_ref), "agent.disowned", uow)
    await alert_staff(
        AlertStaff(
            f"disowned:{request.request_id}",
            "staff.alert.agent_disowned",
            {
                "agent": request.agent_id,
                "action": request.action.value,
                "request": request.request_id,
            },
        ),
        uow,
    )
    return Answered(request)


async def _carry_out(request: AgentRequest, cmd: AnswerAgent, uow: UnitOfWork) -> Answered:
    """The ordinary request the customer confirmed, on the legal clock that started
    when the agent sent it; the agent's status follows it."""
    ref, background, opened_it, at = cmd.customer_ref, False, True, request.received_at
    if request.action is AgentAction.DELETION:
        data_request, opened_it = await request_erasure(RequestErasure(ref, "drp", at), uow)
    elif request.action is AgentAction.SALE_OPT_IN:
        flag = SetFlag(ref, Flag.OPT_OUT_SHARING, False, channel="drp", received_at=at)
        _, data_request = await set_processing_flag(flag, uow)
    elif request.action is AgentAction.ACCESS_CATEGORIES:
        # The categories are shown in the chat this turn: answered as it is opened.
        opened = await open_right(OpenRight(ref, RequestKind.ACCESS, "drp", received_at=at), uow)
        data_request = await complete_request(opened, uow, notify=False)
    else:
        data_request, background = await request_export(RequestExport(ref, "drp", at), uow)
    request.opened_it = opened_it
    request.follow(data_request, uow.now())
    return Answered(request, data_request, background)


async def _audit(request: AgentRequest, actor: Actor, action: str, uow: UnitOfWork) -> None:
    await uow.record(
        actor,
        action,
        subject_ref=request.customer_ref,
        details={
            "agent": request.agent_id,
            "request": request.request_id,
            "action": request.action.value,
            "status": request.status.value,
        },
    )
