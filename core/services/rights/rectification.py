"""Use cases: rectification (correct name, email, address, phone).

A phone number is accepted only from Telegram's "share my contact" button, and
only when the shared contact is the sender's own (``contact_user_id`` equals the
sender): anything else is refused with the reason, and audited.

Every correction is a DataRequest. When the policy lists ``rectification`` in
``approval_required`` the new value waits, encrypted with the customer's key
(``rights_pending_changes``), until staff move the request to ``in_progress``;
the ``rectify`` job then applies it. Otherwise it applies at once. Either way
the shop's other systems are told which fields changed (never the values).

An email or phone another customer holds is never named as such when asked for
(that would tell anyone whose address it is): the request is taken like any other,
and the clash is resolved when the change is applied, closing the request with a
reason for staff and telling the customer only that their change was not made.
Identity changes are limited to ``IDENTITY_CHANGES_PER_DAY`` so guessing stays slow.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from core.crypto import normalise_email, normalise_phone
from core.domain.customer import Customer, Identity, IdentityKind
from core.domain.job import RECTIFY
from core.domain.requests import DataRequest, RequestKind, RequestState
from core.domain.rights import CORRECTABLE, IDENTITY_CHANGES_PER_DAY, check_correction
from core.errors import PolicyDenied, PrivacyError, RateLimited
from core.services._common import SYSTEM, customer_actor, refuse
from core.services.jobs import enqueue_request_job
from core.services.outreach.notices import NotifyCustomer, notify_customer, request_params
from core.services.requests import MoveRequest, move_request
from core.services.rights.downstream import notify_downstream
from core.services.rights.requests import OpenRight, complete_request, open_right
from core.storage import UnitOfWork

__all__ = [
    "RECTIFY",
    "CorrectField",
    "apply_correction",
    "check_own_contact",
    "correct_field",
]


@dataclass(frozen=True)
class CorrectField:
    customer_ref: str
    field: str
    value: str
    channel: str = "telegram"
    downstream: tuple[str, ...] = ()
    sender_id: int | None = None  # for a phone: who sent the contact ...
    contact_user_id: int | None = None  # ... and whose contact it is


def check_own_contact(sender_id: int | None, contact_user_id: int | None) -> None:
    if sender_id is None or contact_user_id is None or sender_id != contact_user_id:
        raise PolicyDenied("the shared contact is not the sender's own", code="contact_not_yours")


async def correct_field(cmd: CorrectField, uow: UnitOfWork) -> tuple[DataRequest, bool]:
    """The request, and whether the change is already applied (else it awaits staff,
    or, closed, was not made)."""
    actor = customer_actor(cmd.customer_ref)
    customer = await uow.customers.get(cmd.customer_ref, lock=True)
    try:
        value = await _checked(cmd, customer, uow)
    except PrivacyError as error:
        await refuse(uow, actor, "rectification.requested", error, subject_ref=customer.ref)
    request = await open_right(
        OpenRight(customer.ref, RequestKind.RECTIFICATION, cmd.channel, cmd.field), uow
    )
    await uow.record(
        actor,
        "rectification.requested",
        subject_ref=customer.ref,
        details={"request": request.ref, "field": cmd.field},
    )
    if uow.policy.needs_approval(RequestKind.RECTIFICATION.value):
        await uow.requests.put_pending(request.ref, customer.ref, cmd.field, value, uow.now())
        await enqueue_request_job(RECTIFY, request.ref, uow)
        return request, False
    if await _taken(customer, cmd.field, value, uow):
        return await _not_made(request, customer, uow, notify=False), False
    await _apply(customer, cmd.field, value, uow)
    request = await complete_request(request, uow, notify=False)
    await notify_downstream(
        request, "rectification", cmd.downstream, uow, facts={"fields": [cmd.field]}
    )
    return request, True


async def _checked(cmd: CorrectField, customer: Customer, uow: UnitOfWork) -> str:
    if cmd.field == "phone":
        check_own_contact(cmd.sender_id, cmd.contact_user_id)
        value = normalise_phone(cmd.value, uow.policy.default_phone_region)
    elif cmd.field == "email":
        value = normalise_email(check_correction("email", cmd.value))
    else:
        value = check_correction(cmd.field, cmd.value)
    if CORRECTABLE.get(cmd.field) is not None:
        await _within_identity_limit(customer.ref, uow)
    return value


async def _within_identity_limit(customer_ref: str, uow: UnitOfWork) -> None:
    since = uow.now() - timedelta(days=1)
    fields = tuple(f for f, kind in CORRECTABLE.items() if kind is not None)
    asked = await uow.requests.received_since(
        customer_ref, RequestKind.RECTIFICATION.value, since, details=fields
    )
    if len(asked) >= IDENTITY_CHANGES_PER_DAY:
        error = RateLimited("too many identity changes today", code="identity_rate_limited")
        error.retry_at = asked[len(asked) - IDENTITY_CHANGES_PER_DAY] + timedelta(days=1)
        raise error


async def _taken(customer: Customer, field: str, value: str, uow: UnitOfWork) -> bool:
    """Does another customer hold this email or phone?"""
    kind = CORRECTABLE.get(field)
    if kind is None:
        return False
    owner = await uow.customers.ref_by_blind(kind, uow.customers.blind(kind, value))
    return owner is not None and owner != customer.ref


async def _not_made(
    request: DataRequest, customer: Customer, uow: UnitOfWork, *, notify: bool = True
) -> DataRequest:
    """The clash, decided: closed with a reason staff read; the customer is told only
    that their own change was not made (by a notice, or by the chat answering now)."""
    closed = await move_request(
        MoveRequest(request.ref, RequestState.REJECTED, SYSTEM, "identity held by another"), uow
    )
    if not notify:
        return closed
    await notify_customer(
        NotifyCustomer(
            customer.ref,
            "rights.correct.not_made",
            f"not_made:{request.ref}",
            request_params(closed),
        ),
        uow,
    )
    return closed


async def _apply(customer: Customer, field: str, value: str, uow: UnitOfWork) -> None:
    setattr(customer, field, value)
    customer.touch(uow.now())
    await uow.customers.save(customer)
    kind = CORRECTABLE.get(field)
    if kind is not None:
        # The old value must stop finding this customer; the new one must.
        await uow.customers.remove_identities(customer.ref, kind)
        await uow.customers.add_identity(
            customer.ref, Identity(kind, value, verified=kind is IdentityKind.PHONE)
        )


async def apply_correction(
    request_ref: str, downstream: tuple[str, ...], uow: UnitOfWork
) -> bool | None:
    """Apply an approved correction: True applied, False dropped, None waiting."""
    request = await uow.requests.get(request_ref, lock=True)
    if request.state in (RequestState.RECEIVED, RequestState.VERIFYING):
        return None
    pending = await uow.requests.take_pending(request.ref)
    if request.state is not RequestState.IN_PROGRESS or pending is None:
        return False
    field, value = pending
    customer = await uow.customers.get(request.customer_ref, lock=True)
    if await _taken(customer, field, value, uow):
        await _not_made(request, customer, uow)
        return False
    await _apply(customer, field, value, uow)
    await uow.record(
        SYSTEM,
        "rectification.applied",
        subject_ref=customer.ref,
        details={"request": request.ref, "field": field},
    )
    done = await complete_request(request, uow)
    await notify_downstream(done, "rectification", downstream, uow, facts={"fields": [field]})
    return True
