"""Use cases: a data-rights request opened on the customer's legal clock and closed.

- ``open_right``: a data request on the customer's legal clock, acknowledged at once
- ``complete_request``: close a request the system carried out, and tell the customer
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core.domain.requests import DataRequest, RequestKind, RequestState
from core.services._common import SYSTEM
from core.services.outreach.notices import NotifyCustomer, notify_customer, request_params
from core.services.requests import MoveRequest, OpenRequest, move_request, open_request
from core.storage import UnitOfWork

__all__ = ["OpenRight", "complete_request", "open_right"]


@dataclass(frozen=True)
class OpenRight:
    customer_ref: str
    kind: RequestKind
    channel: str = "telegram"
    detail: str | None = None
    received_at: datetime | None = None  # an agent's request: when the agent sent it


async def open_right(cmd: OpenRight, uow: UnitOfWork) -> DataRequest:
    """Open the request and acknowledge it now.

    The chat answer is the acknowledgement, so it is recorded as given at receipt;
    CCPA's 10 working days are met the same second.
    """
    request = await open_request(
        OpenRequest(cmd.customer_ref, cmd.kind, cmd.channel, cmd.detail, cmd.received_at), uow
    )
    await uow.requests.acknowledge(request.ref, request.received_at)
    return request


async def complete_request(
    request: DataRequest, uow: UnitOfWork, *, note: str | None = None, notify: bool = True
) -> DataRequest:
    """Close a request the system carried out, and tell the customer."""
    if request.state is not RequestState.IN_PROGRESS:
        request = await move_request(
            MoveRequest(request.ref, RequestState.IN_PROGRESS, SYSTEM, "automatic"), uow
        )
    done = await move_request(MoveRequest(request.ref, RequestState.COMPLETED, SYSTEM, note), uow)
    if notify:
        await notify_customer(
            NotifyCustomer(
                done.customer_ref,
                "rights.notice.completed",
                key=f"{done.ref}:completed",
                params=request_params(done),
            ),
            uow,
        )
    return done
