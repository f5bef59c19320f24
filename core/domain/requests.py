"""Data subject requests (DSARs) and their legal life cycle."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from core.errors import InvalidTransition

__all__ = ["DataRequest", "Delivery", "Pause", "RequestKind", "RequestState", "Waiting"]


class RequestKind(StrEnum):
    ACCESS = "access"
    PORTABILITY = "portability"
    ERASURE = "erasure"
    RECTIFICATION = "rectification"
    RESTRICTION = "restriction"
    OBJECTION = "objection"


class Delivery(StrEnum):
    """Where sending a request's answer in the background stands (None: not tried,
    or certainly not delivered). Never sent twice: see core/services/rights/export.py."""

    SENDING = "sending"  # committed before the document leaves
    UNCERTAIN = "uncertain"  # may have arrived, never confirmed


class Waiting(StrEnum):
    """What the shop waits for from the customer while a request is ``verifying``."""

    IDENTITY = "identity"  # proof that the request is theirs (their shared contact)
    CLARIFICATION = "clarification"  # an answer to the shop's question


@dataclass(frozen=True)
class Pause:
    """A stretch of time the shop waited for the customer (``until`` None: still)."""

    need: Waiting
    since: datetime
    until: datetime | None


class RequestState(StrEnum):
    RECEIVED = "received"
    VERIFYING = "verifying"  # waiting for the customer (see Waiting)
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"  # by the customer, before any work began

    @property
    def closed(self) -> bool:
        return self in (RequestState.COMPLETED, RequestState.REJECTED, RequestState.CANCELLED)

    @property
    def cancellable(self) -> bool:
        """Still waiting: the customer may call it off."""
        return self in (RequestState.RECEIVED, RequestState.VERIFYING)


_NEXT: dict[RequestState, frozenset[RequestState]] = {
    RequestState.RECEIVED: frozenset(
        {
            RequestState.VERIFYING,
            RequestState.IN_PROGRESS,
            RequestState.REJECTED,
            RequestState.CANCELLED,
        }
    ),
    RequestState.VERIFYING: frozenset(
        {
            RequestState.RECEIVED,
            RequestState.IN_PROGRESS,
            RequestState.REJECTED,
            RequestState.CANCELLED,
        }
    ),
    RequestState.IN_PROGRESS: frozenset({RequestState.COMPLETED, RequestState.REJECTED}),
    RequestState.COMPLETED: frozenset(),
    RequestState.REJECTED: frozenset(),
    RequestState.CANCELLED: frozenset(),
}


_FIRST_APPROVAL = "first approval by "
_WAITING = "waiting for the customer: "


@dataclass
class DataRequest:
    ref: str
    customer_ref: str
    kind: RequestKind
    jurisdiction: str
    received_at: datetime
    due_at: datetime
    state: RequestState = RequestState.RECEIVED
    extended: bool = False
    reason: str | None = None
    history: list[tuple[datetime, RequestState, str | None]] = field(default_factory=list)
    detail: str | None = None  # what it is about where the kind does not say: a field

    def move_to(self, state: RequestState, at: datetime, note: str | None = None) -> None:
        if state not in _NEXT[self.state]:
            raise InvalidTransition(f"a {self.state} request cannot become {state}")
        self.state = state
        self.history.append((at, state, note))

    @property
    def first_approver(self) -> str | None:
        """Who gave the first of two approvals (four eyes), while the second is awaited."""
        if self.state not in (RequestState.RECEIVED, RequestState.VERIFYING):
            return None
        notes = (note for _, state, note in self.history if state is self.state and note)
        firsts = [n.removeprefix(_FIRST_APPROVAL) for n in notes if n.startswith(_FIRST_APPROVAL)]
        return firsts[-1] if firsts else None

    def approve_first(self, at: datetime, by: str) -> None:
        """The first of two approvals: the state stays, the approver is noted."""
        if self.state not in (RequestState.RECEIVED, RequestState.VERIFYING):
            raise InvalidTransition(f"a {self.state} request cannot be approved")
        self.history.append((at, self.state, f"{_FIRST_APPROVAL}{by}"))

    def wait_for_customer(self, need: Waiting, at: datetime) -> None:
        """received -> verifying: the shop asked the customer for ``need``."""
        if self.state is not RequestState.RECEIVED:
            raise InvalidTransition(f"a {self.state} request cannot wait for the customer")
        self.move_to(RequestState.VERIFYING, at, f"{_WAITING}{need.value}")

    def resume(self, at: datetime, note: str, new_due_at: datetime) -> None:
        """verifying -> received: the customer answered; the due date moves by the pause."""
        if self.state is not RequestState.VERIFYING:
            raise InvalidTransition(f"a {self.state} request is not waiting for the customer")
        self.move_to(RequestState.RECEIVED, at, note)
        self.due_at = new_due_at

    @property
    def waiting_for(self) -> Waiting | None:
        pauses = self.pauses
        return pauses[-1].need if pauses and pauses[-1].until is None else None

    @property
    def pauses(self) -> list[Pause]:
        """Every wait for the customer, from the history, oldest first."""
        found: list[Pause] = []
        open_: tuple[Waiting, datetime] | None = None
        for at, state, note in self.history:
            if open_ is not None and state is not RequestState.VERIFYING:
                found.append(Pause(open_[0], open_[1], at))
                open_ = None
            if state is RequestState.VERIFYING and note and note.startswith(_WAITING):
                open_ = (Waiting(note.removeprefix(_WAITING)), at)
        if open_ is not None:
            found.append(Pause(open_[0], open_[1], None))
        return found

    def extend(self, new_due_at: datetime, at: datetime, reason: str) -> None:
        if self.state.closed:
            raise InvalidTransition("a closed request cannot be extended")
        if self.extended:
            raise InvalidTransition("the request was extended already")
        self.extended = True
        self.due_at = new_due_at
        self.history.append((at, self.state, f"extended: {reason}"))
