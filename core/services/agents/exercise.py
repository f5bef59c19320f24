"""Use case: an authorized agent exercises a right for a consumer (DRP 1.0 2.01).

The identity claims are matched through the blind indexes and then dropped: the
request keeps the matched customer's pseudonymous ref, or nothing (``no_match``).
An opt-out of sale takes effect at once (11 CCR §7026: no verification). Every
other action is asked of the customer in their own chat first
(``core.services.agents.confirmation``), and waits ``need_user_verification``.
"""

from __future__ import annotations

import unicodedata
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError

from core.domain.agent_request import AgentAction, AgentReason, AgentRequest, AgentStatus
from core.domain.customer import Customer, IdentityKind
from core.errors import InvalidInput, NotFound, PrivacyError
from core.services._common import refuse
from core.services.agents.confirmation import ask_customer
from core.services.agents.envelope import agent_actor, remember_once
from core.services.agents.following import changed
from core.services.customers import find_customer
from core.services.outreach.notices import NotifyCustomer, notify_customer
from core.services.rights.processing import Flag, SetFlag, set_processing_flag
from core.settings import allowed_url, public_https
from core.storage import UnitOfWork

__all__ = ["REGIMES", "ExerciseRight", "exercise_right", "match_claims"]

REGIMES = ("ccpa",)  # a request without a regime is voluntary
_CLAIMS = (("email", IdentityKind.EMAIL), ("phone_number", IdentityKind.PHONE))


@dataclass(frozen=True)
class ExerciseRight:
    agent_id: str
    message: dict[str, Any]  # verified by open_envelope
    body: bytes  # as received: remembered once this is not a retry of an earlier request
    downstream: tuple[str, ...] = ()  # the shop systems told of an opt-out
    local_callbacks: bool = False  # a development agent's callback on this machine


async def exercise_right(cmd: ExerciseRight, uow: UnitOfWork) -> AgentRequest:
    """The new request's status (or the earlier one for a repeated agent-request-id)."""
    actor = agent_actor(cmd.agent_id)
    try:
        action, regime, own_id, callback = _fields(cmd.message, cmd.local_callbacks)
    except PrivacyError as error:
        await refuse(uow, actor, "agent.exercise", error, subject_ref=None)
    if own_id is not None:
        earlier = await uow.agents.by_agent_request_id(cmd.agent_id, own_id)
        if earlier is not None:  # a retry after a lost answer (even the same body): the same
            await _audit(earlier, uow, outcome="duplicate")
            return earlier
    await remember_once(cmd.agent_id, cmd.body, "agent.exercise", uow)
    request = AgentRequest(
        request_id=str(uuid.uuid4()),
        agent_id=cmd.agent_id,
        action=action,
        received_at=uow.now(),
        regime=regime,
        agent_request_id=own_id,
        status_callback=callback,
    )
    try:
        async with uow.session.begin_nested():
            await uow.agents.add(request)
    except IntegrityError:  # the same agent-request-id, sent twice at once: the first wins
        earlier = await uow.agents.by_agent_request_id(cmd.agent_id, own_id or "")
        if earlier is None:
            raise
        await _audit(earlier, uow, outcome="duplicate")
        return earlier
    customer = await match_claims(cmd.message, uow)
    if customer is None:
        request.move(AgentStatus.DENIED, uow.now(), AgentReason.NO_MATCH, detail="no_match")
    else:
        request.customer_ref = customer.ref
        await _act(request, customer, cmd, uow)
    await changed(request, uow)
    await _audit(request, uow)
    return request


def _fields(
    message: dict[str, Any], local_callbacks: bool
) -> tuple[AgentAction, str | None, str | None, str | None]:
    action = AgentAction.parse(message.get("exercise"))
    if action is None:
        raise InvalidInput("unsupported rights action", code="unsupported_action")
    regime = message.get("regime")
    if regime is not None and regime not in REGIMES:
        raise InvalidInput("unsupported regime", code="unsupported_regime")
    own_id = message.get("agent-request-id")
    if own_id is not None and not (isinstance(own_id, str) and 0 < len(own_id) <= 128):
        raise InvalidInput("agent-request-id: at most 128 characters", code="bad_request_id")
    callback = message.get("status_callback")
    if callback is not None and not (
        isinstance(callback, str)
        and len(callback) <= 2048
        and _callback_allowed(callback, local_callbacks)
    ):
        raise InvalidInput("status_callback must be a public https:// URL", code="bad_callback")
    return action, regime, own_id, callback


def _callback_allowed(url: str, local: bool) -> bool:
    return public_https(url) or (local and allowed_url(url))


async def match_claims(message: dict[str, Any], uow: UnitOfWork) -> Customer | None:
    """The one customer the claims point to. Every email or phone claim we hold must
    name the same customer, at least one must, and a name given must not contradict
    theirs; a name alone matches nobody (names are not unique)."""
    found: set[str] = set()
    for claim, kind in _CLAIMS:
        raw = message.get(claim)
        if raw is None:
            continue
        if not isinstance(raw, str) or len(raw) > 254:
            return None
        try:
            customer = await find_customer(kind, raw, uow)
        except InvalidInput:
            return None
        if customer is not None:
            found.add(customer.ref)
    if len(found) != 1:
        return None
    try:
        customer = await uow.customers.get(found.pop(), lock=True)
    except NotFound:
        return None
    name = message.get("name")
    if isinstance(name, str) and customer.name and _folded(name) != _folded(customer.name):
        return None
    return customer


def _folded(name: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


async def _act(
    request: AgentRequest, customer: Customer, cmd: ExerciseRight, uow: UnitOfWork
) -> None:
    now = uow.now()
    if request.action is not AgentAction.SALE_OPT_OUT:
        await ask_customer(request, customer, uow)
        return
    flag = SetFlag(
        customer.ref,
        Flag.OPT_OUT_SHARING,
        True,
        channel="drp",
        downstream=cmd.downstream,
        actor=agent_actor(cmd.agent_id),
    )
    _, data_request = await set_processing_flag(flag, uow)
    try:  # the deadline of the regime the agent named, else the customer's own
        regime = uow.policy.jurisdiction(request.regime or data_request.jurisdiction)
    except NotFound:
        regime = uow.policy.jurisdiction(data_request.jurisdiction)
    request.data_request_ref = data_request.ref
    request.expected_by = regime.opt_out_due(now) or now
    request.move(AgentStatus.FULFILLED, now, detail="opted_out")
    await notify_customer(
        NotifyCustomer(
            customer.ref,
            "agent.notice.opted_out",
            key=f"agent:{request.request_id}:opted_out",
            params={"agent": request.agent_id},
        ),
        uow,
    )


async def _audit(request: AgentRequest, uow: UnitOfWork, *, outcome: str = "ok") -> None:
    await uow.record(
        agent_actor(request.agent_id),
        "agent.exercise",
        subject_ref=request.customer_ref,
        outcome=outcome,
        details={
            "agent": request.agent_id,
            "request": request.request_id,
            "action": request.action.value,
            "status": request.status.value,
            "reason": request.reason.value if request.reason else None,
        },
    )
