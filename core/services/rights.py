"""Use cases: the customer's data rights that need no background work.

- ``holdings``: what the shop holds, per category (counts and dates, never values)
- ``open_right``: a data request on the customer's legal clock, acknowledged at once
- ``set_processing_flag``: restriction, objection to marketing, sale/share opt-out,
  and lifting them; each is a request recorded and completed, and the flag is set
  at once whatever the approval policy (stopping processing is always safe)
- ``choose_jurisdiction``: the customer says which law applies to them
- ``is_suppressed``: is a contact one an erased customer asked never to hear from again
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from core.crypto import normalise_email, normalise_phone
from core.domain.customer import Customer, IdentityKind, ProcessingFlags
from core.domain.requests import DataRequest, RequestKind, RequestState
from core.domain.rights import CategoryHolding, inventory
from core.errors import InvalidInput, NotFound
from core.services._common import SYSTEM, customer_actor, refuse
from core.services.notices import NotifyCustomer, notify_customer
from core.services.requests import MoveRequest, OpenRequest, move_request, open_request
from core.services.rights_downstream import notify_downstream
from core.storage import UnitOfWork

__all__ = [
    "ChooseJurisdiction",
    "Flag",
    "OpenRight",
    "SetFlag",
    "choose_jurisdiction",
    "complete_request",
    "holdings",
    "is_suppressed",
    "open_right",
    "set_processing_flag",
]


async def holdings(customer_ref: str, uow: UnitOfWork) -> list[CategoryHolding]:
    customer = await uow.customers.get(customer_ref)
    found = await uow.rights.holdings(customer_ref)
    return inventory(
        uow.policy,
        customer,
        purchases=found.purchases,
        first_purchase=found.first_purchase,
        answers=found.answers,
        first_answer=found.first_answer,
        consents=found.consents,
        first_consent=found.first_consent,
        has_conversation=found.has_conversation,
    )


@dataclass(frozen=True)
class OpenRight:
    customer_ref: str
    kind: RequestKind
    channel: str = "telegram"


async def open_right(cmd: OpenRight, uow: UnitOfWork) -> DataRequest:
    """Open the request and acknowledge it now.

    The chat answer is the acknowledgement, so it is recorded as given at receipt;
    CCPA's 10 working days are met the same second.
    """
    request = await open_request(OpenRequest(cmd.customer_ref, cmd.kind, cmd.channel), uow)
    await uow.rights.acknowledge(request.ref, request.received_at)
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
                params={"request": done.ref, "kind": done.kind.value},
            ),
            uow,
        )
    return done


class Flag(StrEnum):
    RESTRICT = "restrict"
    OBJECT_MARKETING = "object"
    OPT_OUT_SHARING = "optout"


_FLAG_KIND = {
    Flag.RESTRICT: RequestKind.RESTRICTION,
    Flag.OBJECT_MARKETING: RequestKind.OBJECTION,
    Flag.OPT_OUT_SHARING: RequestKind.OBJECTION,
}


@dataclass(frozen=True)
class SetFlag:
    customer_ref: str
    flag: Flag
    on: bool
    channel: str = "telegram"
    downstream: tuple[str, ...] = ()  # the shop systems to tell (settings.downstream names)


async def set_processing_flag(cmd: SetFlag, uow: UnitOfWork) -> tuple[Customer, DataRequest]:
    """Set or lift a flag; the rules in core.domain.rules enforce it everywhere."""
    customer = await uow.customers.get(cmd.customer_ref, lock=True)
    customer.flags = _with_flag(customer, cmd.flag, cmd.on, uow)
    customer.last_active_at = uow.now()
    await uow.customers.save(customer)
    request = await open_right(OpenRight(customer.ref, _FLAG_KIND[cmd.flag], cmd.channel), uow)
    await uow.record(
        customer_actor(customer.ref),
        f"rights.{cmd.flag.value}.{'set' if cmd.on else 'lifted'}",
        subject_ref=customer.ref,
        details={"request": request.ref},
    )
    if not uow.policy.needs_approval(request.kind.value):
        request = await complete_request(request, uow, notify=False)
    await notify_downstream(
        request, "restriction", cmd.downstream, uow, facts={cmd.flag.value: cmd.on}
    )
    return customer, request


def _with_flag(customer: Customer, flag: Flag, on: bool, uow: UnitOfWork) -> ProcessingFlags:
    flags = customer.flags
    if flag is Flag.RESTRICT:
        return replace(flags, restricted=on)
    if flag is Flag.OBJECT_MARKETING:
        return replace(flags, objected_marketing=on)
    if not on:
        return replace(flags, opted_out_sharing_at=None)
    # Keep the first opt-out's date: the re-ask period runs from it.
    return replace(flags, opted_out_sharing_at=flags.opted_out_sharing_at or uow.now())


@dataclass(frozen=True)
class ChooseJurisdiction:
    customer_ref: str
    jurisdiction: str


async def choose_jurisdiction(cmd: ChooseJurisdiction, uow: UnitOfWork) -> Customer:
    """The regime for this customer's future requests (open ones keep their clock)."""
    actor = customer_actor(cmd.customer_ref)
    try:
        regime = uow.policy.jurisdiction(cmd.jurisdiction)
    except NotFound as error:
        await refuse(uow, actor, "customer.jurisdiction", error, subject_ref=cmd.customer_ref)
    customer = await uow.customers.get(cmd.customer_ref, lock=True)
    customer.jurisdiction = regime.key
    customer.last_active_at = uow.now()
    await uow.customers.save(customer)
    await uow.record(
        actor, "customer.jurisdiction", subject_ref=customer.ref, details={"regime": regime.key}
    )
    return customer


async def is_suppressed(kind: IdentityKind, value: str, uow: UnitOfWork) -> bool:
    """True when an erased customer's contact matches: never contact it unprompted.

    ``value`` may be raw ("+852 9123 4567"); an unreadable one is not suppressed.
    """
    try:
        if kind is IdentityKind.PHONE:
            value = normalise_phone(value, uow.policy.default_phone_region)
        elif kind is IdentityKind.EMAIL:
            value = normalise_email(value)
        else:
            value = value.strip()
    except InvalidInput:
        return False
    return await uow.rights.is_suppressed(kind.value, value)
