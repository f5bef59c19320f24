"""Separation of duties: nobody decides a request about themselves, and kinds the
policy names need two different approvers (four eyes). Refusals are audited."""

from __future__ import annotations

from core.domain.actor import Actor
from core.domain.customer import IdentityKind
from core.domain.requests import DataRequest
from core.errors import PolicyDenied
from core.services._common import refuse
from core.services.customers import contact_blinds
from core.storage import UnitOfWork

__all__ = ["refuse_own_request", "second_approver_needed"]


async def refuse_own_request(
    by: int | None, actor: Actor, request_ref: str, action: str, uow: UnitOfWork
) -> None:
    """Refuse (audited) when ``by`` is the request's customer: the same Telegram
    account, or a phone or email the two share (as identities or contact details).
    The CLI (``None``) is the server's operator, not a customer."""
    if by is None:
        return
    own = await uow.customers.find(IdentityKind.TELEGRAM, str(by))
    if own is None:
        return
    request = await uow.requests.get(request_ref)
    if own.ref == request.customer_ref or (
        await _reached_by(own.ref, uow) & await _reached_by(request.customer_ref, uow)
    ):
        error = PolicyDenied(
            "a staff member cannot decide a request about themselves: ask a colleague",
            code="own_request",
        )
        await refuse(uow, actor, action, error, subject_ref=request.customer_ref)


async def _reached_by(customer_ref: str, uow: UnitOfWork) -> set[tuple[str, str]]:
    """Blind indexes of a customer's identities and contact phone and email."""
    return set(await uow.customers.identity_blinds(customer_ref)) | await contact_blinds(
        customer_ref, uow
    )


async def second_approver_needed(actor: Actor, request: DataRequest, uow: UnitOfWork) -> bool:
    """True when this approval is only the first of two (it is then noted); refused
    (audited) when the first approver tries to give the second one too."""
    if not uow.policy.needs_second_approval(request.kind.value):
        return False
    first = request.first_approver
    if first is None:
        request.approve_first(uow.now(), actor.ref)
        return True
    if first == actor.ref:
        error = PolicyDenied(
            "you gave the first approval: a second staff member must give the other",
            code="second_approver_needed",
        )
        await refuse(uow, actor, "request.approve", error, subject_ref=request.customer_ref)
    return False
