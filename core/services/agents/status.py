"""Use cases: an agent reads the status of its request, or revokes it (DRP 2.02, 2.04).

A request is only ever its own agent's: another agent's token is refused (the bot
answers 403), as is a request id nobody issued (404). Revoking ends a request still
waiting for the customer, or one whose data request no work has begun on (it is
cancelled with it); work already under way is not undone.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.domain.actor import Actor
from core.domain.agent_request import AgentRequest, AgentStatus
from core.domain.requests import RequestState
from core.errors import InvalidTransition, NotFound, PermissionDenied, PrivacyError
from core.services._common import refuse
from core.services.agents.envelope import agent_actor
from core.services.agents.following import changed
from core.services.requests import MoveRequest, move_request
from core.storage import UnitOfWork

__all__ = ["ReadStatus", "RevokeRequest", "read_status", "revoke_request"]

MAX_REASON = 500


@dataclass(frozen=True)
class ReadStatus:
    agent_id: str
    request_id: str


async def read_status(cmd: ReadStatus, uow: UnitOfWork) -> AgentRequest:
    request = await _own(cmd.agent_id, cmd.request_id, "agent.status", uow)
    await uow.record(
        agent_actor(cmd.agent_id),
        "agent.status",
        subject_ref=None,
        details={"agent": cmd.agent_id, "request": request.request_id, "status": request.status},
    )
    return request


@dataclass(frozen=True)
class RevokeRequest:
    agent_id: str
    request_id: str
    has_reason: bool = False  # the reason itself is the consumer's words: not kept


async def revoke_request(cmd: RevokeRequest, uow: UnitOfWork) -> AgentRequest:
    actor = agent_actor(cmd.agent_id)
    request = await _own(cmd.agent_id, cmd.request_id, "agent.revoked", uow, lock=True)
    now = uow.now()
    try:
        if request.data_request_ref is not None and not request.status.final:
            request = await _call_off(request, actor, uow)
        if not request.status.final:
            request.move(AgentStatus.REVOKED, now, detail="revoked")
        elif request.status is not AgentStatus.REVOKED:
            raise InvalidTransition(f"the request is {request.status.value}", code="final")
    except PrivacyError as error:
        await refuse(uow, actor, "agent.revoked", error, subject_ref=request.customer_ref)
    await changed(request, uow)
    await uow.record(
        actor,
        "agent.revoked",
        subject_ref=request.customer_ref,
        details={"agent": cmd.agent_id, "request": request.request_id, "reason": cmd.has_reason},
    )
    return request


async def _call_off(request: AgentRequest, actor: Actor, uow: UnitOfWork) -> AgentRequest:
    """Cancel the data request this agent's request opened, if no work began on it and
    nobody else's request follows it; one it only joined (the customer's own, another
    agent's) goes on without this agent."""
    assert request.data_request_ref is not None
    data_request = await uow.requests.get(request.data_request_ref, lock=True)
    if not data_request.state.cancellable:
        raise InvalidTransition(
            "work on the request has begun: it cannot be revoked", code="under_way"
        )
    others = [
        a
        for a in await uow.agents.of_data_request(data_request.ref)
        if a.request_id != request.request_id and not a.status.final
    ]
    if not request.opened_it or others:
        return request
    await uow.requests.take_pending(data_request.ref)
    note = "revoked by the agent"
    await move_request(MoveRequest(data_request.ref, RequestState.CANCELLED, actor, note), uow)
    followed = await uow.agents.get(request.request_id, lock=True)
    followed.detail = "revoked"  # it followed the cancellation: called off by the agent
    return followed


async def _own(
    agent_id: str, request_id: str, action: str, uow: UnitOfWork, *, lock: bool = False
) -> AgentRequest:
    try:
        request = await uow.agents.get(request_id, lock=lock)
        if request.agent_id != agent_id:
            raise PermissionDenied("another agent's request", code="not_yours")
    except (NotFound, PermissionDenied) as error:
        await refuse(uow, agent_actor(agent_id), action, error, subject_ref=None)
    return request
