"""Use cases: manage staff members (from the server's CLI) and check their permissions."""

from __future__ import annotations

from dataclasses import dataclass

from core.domain.actor import Actor
from core.domain.customer import IdentityKind
from core.domain.staff import Role, Staff
from core.errors import InvalidInput, NotFound, PermissionDenied
from core.services._common import customer_actor, refuse
from core.storage import UnitOfWork

__all__ = [
    "AddStaff",
    "RemoveStaff",
    "add_staff",
    "authorise",
    "list_staff",
    "remove_staff",
    "staff_actor",
]


def staff_actor(telegram_id: int, uow: UnitOfWork) -> Actor:
    return Actor("staff", uow.indexer.pseudonym("staff", str(telegram_id)))


@dataclass(frozen=True)
class AddStaff:
    telegram_id: int
    role: str
    by: Actor


async def add_staff(cmd: AddStaff, uow: UnitOfWork) -> Staff:
    try:
        role = Role(cmd.role)
    except ValueError:
        raise InvalidInput(f"unknown role {cmd.role[:20]!r}", code="bad_role") from None
    if cmd.telegram_id <= 0:
        raise InvalidInput("a telegram user id is a positive number", code="bad_id")
    staff = Staff(cmd.telegram_id, role, uow.now())
    await uow.staff.put(staff)
    subject = staff_actor(cmd.telegram_id, uow).ref
    await uow.record(cmd.by, "staff.added", subject_ref=subject, details={"role": role.value})
    return staff


@dataclass(frozen=True)
class RemoveStaff:
    telegram_id: int
    by: Actor


async def remove_staff(cmd: RemoveStaff, uow: UnitOfWork) -> None:
    subject = staff_actor(cmd.telegram_id, uow).ref
    if not await uow.staff.remove(cmd.telegram_id):
        raise NotFound("no such staff member", code="no_staff")
    await uow.record(cmd.by, "staff.removed", subject_ref=subject)


async def list_staff(uow: UnitOfWork) -> list[Staff]:
    return await uow.staff.all()


async def authorise(telegram_id: int, permission: str, action: str, uow: UnitOfWork) -> Staff:
    """The staff member, if their role holds ``permission``; else an audited denial."""
    staff = await uow.staff.get(telegram_id)
    if staff is None or not uow.policy.allows(staff.role.value, permission):
        actor = staff_actor(telegram_id, uow) if staff else await _outsider(telegram_id, uow)
        denied = PermissionDenied("not allowed", code="permission_denied")
        await refuse(uow, actor, action, denied, subject_ref=None)
    return staff


async def _outsider(telegram_id: int, uow: UnitOfWork) -> Actor:
    """Who tried a desk command without being staff: the customer they are (or, before
    their first message registers them, a pseudonym of their Telegram account)."""
    customer = await uow.customers.find(IdentityKind.TELEGRAM, str(telegram_id))
    if customer is not None:
        return customer_actor(customer.ref)
    return Actor("customer", uow.indexer.pseudonym("telegram", str(telegram_id)))
