"""Use cases: the customer's say over processing, which needs no background work.

- ``set_processing_flag``: restriction, objection to marketing, sale/share opt-out,
  and lifting them; each is a request recorded and completed, and the flag is set
  at once whatever the approval policy (stopping processing is always safe)
- ``choose_jurisdiction``: the customer says which law applies to them
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from core.domain.actor import Actor
from core.domain.customer import Customer, ProcessingFlags
from core.domain.requests import DataRequest, RequestKind
from core.errors import NotFound
from core.services._common import customer_actor, refuse
from core.services.rights.downstream import notify_downstream
from core.services.rights.requests import OpenRight, complete_request, open_right
from core.storage import UnitOfWork

__all__ = ["ChooseJurisdiction", "Flag", "SetFlag", "choose_jurisdiction", "set_processing_flag"]


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
    actor: Actor | None = None  # who asked, when not the customer (an authorized agent)
    received_at: datetime | None = None  # an agent's request: when the agent sent it


async def set_processing_flag(cmd: SetFlag, uow: UnitOfWork) -> tuple[Customer, DataRequest]:
    """Set or lift a flag; the rules in core.domain.rules enforce it everywhere."""
    customer = await uow.customers.get(cmd.customer_ref, lock=True)
    customer.flags = _with_flag(customer, cmd.flag, cmd.on, uow)
    customer.touch(uow.now())
    await uow.customers.save(customer)
    opened = OpenRight(customer.ref, _FLAG_KIND[cmd.flag], cmd.channel, received_at=cmd.received_at)
    request = await open_right(opened, uow)
    await uow.record(
        cmd.actor or customer_actor(customer.ref),
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
    customer.touch(uow.now())
    await uow.customers.save(customer)
    await uow.record(
        actor, "customer.jurisdiction", subject_ref=customer.ref, details={"regime": regime.key}
    )
    return customer
