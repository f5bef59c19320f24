"""A request an authorized agent sent on a customer's behalf (Data Rights Protocol 1.0).

The agent sees only this: the protocol's status, reason and dates. What the shop
does for the customer is an ordinary :class:`~core.domain.requests.DataRequest`,
opened once the customer confirms in their own chat; this request follows it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from core.domain.requests import DataRequest, RequestState
from core.errors import InvalidTransition

__all__ = [
    "DETAILS",
    "FINAL_KEPT",
    "AgentAction",
    "AgentReason",
    "AgentRequest",
    "AgentStatus",
]

# A final status stays readable this long (the protocol: at least 7 days, at most 60).
FINAL_KEPT = timedelta(days=30)


class AgentAction(StrEnum):
    SALE_OPT_OUT = "sale:opt-out"
    SALE_OPT_IN = "sale:opt-in"
    DELETION = "deletion"
    ACCESS = "access"
    ACCESS_CATEGORIES = "access:categories"
    ACCESS_SPECIFIC = "access:specific"

    @classmethod
    def parse(cls, raw: object) -> AgentAction | None:
        """The action, also in the 0.9 spelling (``sale:opt_out``)."""
        if not isinstance(raw, str):
            return None
        try:
            return cls(raw.replace("opt_", "opt-"))
        except ValueError:
            return None

    @property
    def needs_customer(self) -> bool:
        """Asked of the customer in their chat first. An opt-out of sale needs no
        verification (11 CCR §7026); everything that gives, reveals or destroys does."""
        return self is not AgentAction.SALE_OPT_OUT


class AgentStatus(StrEnum):
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    FULFILLED = "fulfilled"
    REVOKED = "revoked"
    DENIED = "denied"
    EXPIRED = "expired"

    @property
    def final(self) -> bool:
        return self not in (AgentStatus.OPEN, AgentStatus.IN_PROGRESS)


class AgentReason(StrEnum):
    NEED_USER_VERIFICATION = "need_user_verification"
    SUSPECTED_FRAUD = "suspected_fraud"
    INSUF_VERIFICATION = "insuf_verification"
    NO_MATCH = "no_match"
    CLAIM_NOT_COVERED = "claim_not_covered"
    OUTSIDE_JURISDICTION = "outside_jurisdiction"
    TOO_MANY_REQUESTS = "too_many_requests"
    OTHER = "other"


# What ``processing_details`` tells the agent (and through it the consumer), by the
# request's detail code. Plain facts; nothing of the customer's data.
DETAILS: dict[str, str] = {
    "asked": "We asked the consumer, in their own chat with us, to confirm this request.",
    "confirmed": "The consumer confirmed this request in their chat with us.",
    "results_in_chat": (
        "The consumer confirmed this request; the results go to the consumer in their "
        "chat with us, never to the agent."
    ),
    "delivered_in_chat": (
        "The results were sent to the consumer in their chat with us; none are sent to the agent."
    ),
    "deleted": "The consumer's personal information was deleted, as they confirmed in their chat.",
    "opted_out": "The consumer is opted out of the sale and sharing of their personal "
    "information, from the moment this request arrived.",
    "opted_in": (
        "The consumer confirmed in their chat; their opt-out of sale and sharing is lifted."
    ),
    "extended": "The deadline was extended once, as the law allows; the consumer was told why.",
    "disowned": "The consumer told us in their chat that they did not ask for this.",
    "unanswered": "The consumer did not confirm this request in their chat in time.",
    "unreachable": "We could not reach the consumer in their chat to confirm this request.",
    "no_match": "The identity claims match none of our customers; nothing of them was kept.",
    "declined": "We declined this request; the consumer was told why in their chat.",
    "revoked": "Revoked by the agent.",
    "cancelled": "Called off by the consumer in their chat with us.",
}

_FOLLOWS: dict[RequestState, tuple[AgentStatus, AgentReason | None]] = {
    RequestState.COMPLETED: (AgentStatus.FULFILLED, None),
    RequestState.REJECTED: (AgentStatus.DENIED, AgentReason.OTHER),
    RequestState.CANCELLED: (AgentStatus.REVOKED, None),
}


@dataclass
class AgentRequest:
    """``customer_ref`` is None when the claims matched nobody (nothing of them is kept)."""

    request_id: str
    agent_id: str
    action: AgentAction
    received_at: datetime
    status: AgentStatus = AgentStatus.OPEN
    reason: AgentReason | None = None
    detail: str | None = None  # a DETAILS key
    customer_ref: str | None = None
    data_request_ref: str | None = None
    regime: str | None = None
    agent_request_id: str | None = None
    status_callback: str | None = None
    expected_by: datetime | None = None
    closed_at: datetime | None = None
    changes: int = 0  # state changes so far: each is owed one status callback
    # The data request was opened for this one (else it joined one already under way,
    # the customer's own or another agent's: a revoke then leaves that one alone).
    opened_it: bool = False

    @property
    def awaiting_customer(self) -> bool:
        return (
            self.status is AgentStatus.IN_PROGRESS
            and self.reason is AgentReason.NEED_USER_VERIFICATION
        )

    @property
    def expires_at(self) -> datetime | None:
        return self.closed_at + FINAL_KEPT if self.closed_at is not None else None

    def move(
        self,
        status: AgentStatus,
        at: datetime,
        reason: AgentReason | None = None,
        *,
        detail: str | None = None,
    ) -> bool:
        """Change the status; False when nothing the agent sees changed."""
        if self.status.final:
            raise InvalidTransition(f"the request is {self.status.value} already", code="final")
        if (status, reason, detail or self.detail) == (self.status, self.reason, self.detail):
            return False
        self.status, self.reason, self.detail = status, reason, detail or self.detail
        if status.final:
            self.closed_at = at
        self.changes += 1
        return True

    def follow(self, request: DataRequest, at: datetime) -> bool:
        """Take the state of the data request it became; True if the agent should hear."""
        if self.status.final:
            return False
        self.data_request_ref = request.ref
        due_moved = self.expected_by != request.due_at
        self.expected_by = request.due_at
        status, reason = _FOLLOWS.get(request.state, (AgentStatus.IN_PROGRESS, None))
        moved = self.move(status, at, reason, detail=self._detail_for(request))
        if due_moved and not moved:
            self.changes += 1
        return moved or due_moved

    def _detail_for(self, request: DataRequest) -> str:
        if request.state is RequestState.REJECTED:
            return "declined"
        if request.state is RequestState.CANCELLED:
            return "cancelled"
        if request.extended and not request.state.closed:
            return "extended"
        done = request.state is RequestState.COMPLETED
        if self.action is AgentAction.DELETION:
            return "deleted" if done else "confirmed"
        if self.action is AgentAction.SALE_OPT_IN:
            return "opted_in" if done else "confirmed"
        return "delivered_in_chat" if done else "results_in_chat"

    def status_object(self) -> dict[str, str]:
        """The protocol's Exercise Status object (section 3.03)."""
        found: dict[str, str | None] = {
            "request_id": self.request_id,
            "received_at": _iso(self.received_at),
            "expected_by": _iso(self.expected_by),
            "agent_request_id": self.agent_request_id,
            "status": self.status.value,
            "reason": self.reason.value if self.reason else None,
            "processing_details": DETAILS.get(self.detail or ""),
            "expires_at": _iso(self.expires_at),
        }
        return {k: v for k, v in found.items() if v is not None}


def _iso(at: datetime | None) -> str | None:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z") if at is not None else None
