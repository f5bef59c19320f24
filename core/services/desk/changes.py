"""What a correction waiting for approval would change: the field, the value now
and the value asked for. Masked for anyone who may view requests; in full only for
a role that may reveal, with a stated reason, audited like a reveal."""

from __future__ import annotations

from dataclasses import dataclass

from core.domain.masking import mask_field
from core.domain.policy import Permission
from core.domain.requests import RequestKind
from core.errors import InvalidInput
from core.services._common import refuse
from core.services.desk.queue import permit
from core.services.desk.reasons import seal_reason
from core.storage import UnitOfWork

__all__ = ["Change", "ViewChange", "view_change"]


@dataclass(frozen=True)
class ViewChange:
    by: int | None
    request_ref: str
    reveal_reason: str | None = None  # None: masked


@dataclass(frozen=True)
class Change:
    field: str
    old: str
    new: str
    revealed: bool


async def view_change(cmd: ViewChange, uow: UnitOfWork) -> Change | None:
    """The change a correction asks for (None: not a correction, or no longer waiting)."""
    reveal = cmd.reveal_reason is not None
    permission = Permission.LOOKUP_REVEAL if reveal else Permission.REQUEST_VIEW
    action = "staff.reveal" if reveal else "desk.request"
    actor = await permit(cmd.by, permission, action, uow)
    request = await uow.requests.get(cmd.request_ref)
    if request.kind is not RequestKind.RECTIFICATION:
        return None
    pending = await uow.requests.peek_pending(request.ref)
    if pending is None:
        return None
    field, new = pending
    old = str(getattr(await uow.customers.get(request.customer_ref), field, "") or "")
    if not reveal:
        return Change(field, mask_field(field, old), mask_field(field, new), revealed=False)
    reason = await seal_reason(cmd.reveal_reason, request.customer_ref, uow)
    if not reason:
        error = InvalidInput("a reveal needs a reason", code="reason_required")
        await refuse(uow, actor, action, error, subject_ref=request.customer_ref)
    await uow.record(
        actor,
        action,
        subject_ref=request.customer_ref,
        details={"reason": reason, "request": request.ref, "fields": [field]},
    )
    return Change(field, old, new, revealed=True)
