"""Use case: claim the data the shop holds under a phone number (identity check).

Data linked to the Telegram account is the customer's own. Purchases recorded
in a shop under a phone number belong to whoever owns that number, so the
customer proves it with Telegram's "share my contact" button: the contact must
be the sender's own, and its number (normalised to E.164) is then linked. If a
phone-only customer record exists under that number, it is merged into this
one: rows move over re-encrypted under this customer's key, and the old
record's key is shredded. A number already linked to another Telegram account
is refused. Every outcome is audited, refusals with their reason. Requests that
waited for proof of identity go on.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.crypto import normalise_phone
from core.domain.customer import Customer, Identity, IdentityKind
from core.domain.requests import Waiting
from core.errors import Conflict, PrivacyError
from core.services._common import customer_actor, refuse
from core.services.requests import resume_waiting
from core.services.rights.rectification import check_own_contact
from core.storage import UnitOfWork

__all__ = ["ClaimPhone", "ClaimResult", "claim_phone"]


@dataclass(frozen=True)
class ClaimPhone:
    customer_ref: str
    phone: str
    sender_id: int
    contact_user_id: int | None
    channel: str = "telegram"


@dataclass(frozen=True)
class ClaimResult:
    linked: bool  # the number is now this customer's (False: it was already)
    merged_from: str | None  # the phone-only record merged in, if any
    purchases: int  # purchases that came with it
    resumed: tuple[str, ...] = ()  # requests that waited for this proof of identity


async def claim_phone(cmd: ClaimPhone, uow: UnitOfWork) -> ClaimResult:
    actor = customer_actor(cmd.customer_ref)
    customer = await uow.customers.get(cmd.customer_ref, lock=True)
    try:
        check_own_contact(cmd.sender_id, cmd.contact_user_id)
        phone = normalise_phone(cmd.phone, uow.policy.default_phone_region)
        owner = await uow.customers.ref_by_blind(
            IdentityKind.PHONE, uow.customers.blind(IdentityKind.PHONE, phone)
        )
        source = await _mergeable(owner, customer, uow)
    except PrivacyError as error:
        await refuse(uow, actor, "identity.claimed", error, subject_ref=customer.ref)
    # Their own contact, shared from their own account: what a wait for proof of
    # identity waited for.
    resumed = tuple(r.ref for r in await resume_waiting(customer.ref, Waiting.IDENTITY, uow))
    if owner == customer.ref:
        return ClaimResult(False, None, 0, resumed)
    purchases = 0
    if source is not None:
        purchases = await _merge(source, customer, uow)
    if not any(i.kind is IdentityKind.PHONE and i.value == phone for i in customer.identities):
        await uow.customers.remove_identities(customer.ref, IdentityKind.PHONE)
        await uow.customers.add_identity(
            customer.ref, Identity(IdentityKind.PHONE, phone, verified=True)
        )
    customer.phone = phone
    customer.touch(uow.now())
    await uow.customers.save(customer)
    await uow.record(
        actor,
        "identity.claimed",
        subject_ref=customer.ref,
        details={
            "identity": "phone",
            "merged": source.ref if source else None,
            "purchases": purchases,
            "channel": cmd.channel,
        },
    )
    return ClaimResult(True, source.ref if source else None, purchases, resumed)


async def _mergeable(owner: str | None, customer: Customer, uow: UnitOfWork) -> Customer | None:
    if owner is None or owner == customer.ref:
        return None
    source = await uow.customers.get(owner, lock=True)
    if any(i.kind is IdentityKind.TELEGRAM for i in source.identities):
        # Another chat account holds this number: only staff can sort that out.
        raise Conflict("the number belongs to another account", code="identity_taken")
    return source


async def _merge(source: Customer, target: Customer, uow: UnitOfWork) -> int:
    """Move the phone-only record's data over, then shred and delete it."""
    purchases = await uow.purchases.reassign(source.ref, target.ref)
    await uow.surveys.reassign(source.ref, target.ref)
    await uow.consents.reassign(source.ref, target.ref)
    await uow.requests.reassign(source.ref, target.ref)
    await uow.customers.drop_identities(source.ref)
    for identity in source.identities:
        if identity.kind is not IdentityKind.PHONE:
            taken = any(i.kind is identity.kind for i in target.identities)
            if not taken:
                await uow.customers.add_identity(target.ref, identity)
    for name in ("name", "email", "address", "member_no"):
        if getattr(target, name) is None and getattr(source, name) is not None:
            setattr(target, name, getattr(source, name))
    await uow.customers.delete(source.ref)
    uow.keys.discard(source.ref)
    await uow.record(
        customer_actor(target.ref),
        "customer.merged",
        subject_ref=source.ref,
        details={"into": target.ref, "purchases": purchases},
    )
    return purchases
