"""Use cases of the staff desk: waiting for the customer.

Staff ask the customer for proof that a request is theirs (they share their own
contact) or for an answer to a question; the request is ``verifying`` until then.
Where the regime allows (policy: ``clock_pauses_for_customer``) its clock stands
still meanwhile, and the due date moves on by the days waited once the wait ends:
by the customer's answer, or by staff who had it another way, with a reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core.domain.policy import Permission
from core.domain.requests import DataRequest, Waiting
from core.services.desk.duties import refuse_own_request
from core.services.desk.queue import (
    DecideRequest,
    ViewRequest,
    permit,
    tell_customer,
)
from core.services.desk.reasons import seal_reason
from core.services.requests import (
    ResumeRequest,
    WaitForCustomer,
    resume_request,
    wait_for_customer,
)
from core.storage import UnitOfWork

__all__ = ["AskCustomer", "ask_customer", "end_wait", "view_answers"]


@dataclass(frozen=True)
class AskCustomer:
    by: int | None
    request_ref: str
    need: Waiting


async def ask_customer(cmd: AskCustomer, uow: UnitOfWork) -> DataRequest:
    """received -> verifying; the customer is told what the shop needs and how to give it."""
    actor = await permit(cmd.by, Permission.REQUEST_EXTEND, "request.waiting", uow)
    await refuse_own_request(cmd.by, actor, cmd.request_ref, "request.waiting", uow)
    request = await wait_for_customer(WaitForCustomer(cmd.request_ref, cmd.need, actor), uow)
    step = f"waiting{len(request.pauses)}"
    await tell_customer(request, f"staff.notice.waiting_{cmd.need.value}", step, uow)
    return request


async def end_wait(cmd: DecideRequest, uow: UnitOfWork) -> DataRequest:
    """Staff end a wait the customer answered another way (the reason says how)."""
    actor = await permit(cmd.by, Permission.REQUEST_EXTEND, "request.resumed", uow)
    await refuse_own_request(cmd.by, actor, cmd.request_ref, "request.resumed", uow)
    request = await uow.requests.get(cmd.request_ref)
    note = await seal_reason(cmd.reason, request.customer_ref, uow) or "staff ended the wait"
    return await resume_request(ResumeRequest(cmd.request_ref, actor, note), uow)


async def view_answers(cmd: ViewRequest, uow: UnitOfWork) -> list[tuple[datetime, str]]:
    """What the customer answered about the request; reading it is audited."""
    actor = await permit(cmd.by, Permission.REQUEST_VIEW, "desk.request", uow)
    answers = await uow.requests.answers(cmd.request_ref)
    if answers:
        request = await uow.requests.get(cmd.request_ref)
        await uow.record(
            actor,
            "request.answers_read",
            subject_ref=request.customer_ref,
            details={"request": request.ref, "answers": len(answers)},
        )
    return answers
