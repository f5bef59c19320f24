"""Use cases: a purchase reported by the shop's order system, and its follow-up decision.

A purchase for a customer the shop's bot does not know is *not* stored: we hold
no data key for them, no purpose needs it here (the order system keeps its own
records), and creating a customer from a callback would build a profile of
someone who never spoke to the bot. The answer is ``unknown_customer``.

The status words map onto the interface contract. Every policy denial of a
follow-up (no consent, restricted, objecting, unreachable, suppressed, too
soon after the last one) answers ``no_consent``: the order system needs to
know that nothing will be sent, not why (that stays in the audit log).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import exc

from core.domain.actor import Actor
from core.domain.customer import Customer, IdentityKind
from core.domain.purchase import Purchase, PurchaseItem
from core.errors import Conflict
from core.services._common import SYSTEM, refuse
from core.services.customers import find_customer, normalise_identity
from core.services.jobs import EnqueueJob, enqueue_job
from core.services.outreach.followups import (
    FOLLOWUP,
    followup_denial,
    outside_quiet_hours,
    record_suppressed,
)
from core.storage import UnitOfWork

__all__ = [
    "SIGNATURE_TTL",
    "PurchaseStatus",
    "RecordPurchase",
    "RememberSignature",
    "SignatureReplayed",
    "followup_key",
    "purge_signatures",
    "record_purchase",
    "remember_signature",
]

# Signatures older than 5 minutes are refused as stale, so remembering them for
# 10 minutes covers every one that could still be accepted (with clock skew).
SIGNATURE_TTL = timedelta(minutes=10)


class SignatureReplayed(Conflict):
    code = "replayed"


class PurchaseStatus(StrEnum):
    SCHEDULED = "scheduled"
    NO_CONSENT = "no_consent"
    UNKNOWN_CUSTOMER = "unknown_customer"
    DUPLICATE = "duplicate"
    TOO_OLD = "too_old"  # recorded; a thank-you for it would come out of the blue


# A follow-up thanks for a recent order; an older one reported late is only recorded.
FOLLOWUP_WINDOW = timedelta(days=14)


def followup_key(order_id: str) -> str:
    return f"{FOLLOWUP}:{order_id}"


@dataclass(frozen=True)
class RememberSignature:
    digest: str  # a hash of the signature, 64 hex characters
    actor: Actor = SYSTEM  # who presented it, and what for (for the refusal's audit)
    action: str = "purchase.received"


async def remember_signature(cmd: RememberSignature, uow: UnitOfWork) -> None:
    """Note a callback signature as used; a second use is a refused replay.

    The entry point commits the note with the rest of its call, so a signature is
    used up even when the body it signed is then refused.
    """
    try:
        await uow.signatures.remember(cmd.digest, uow.now())
    except exc.IntegrityError:
        error = SignatureReplayed("this signature was used before", code="replayed")
        await refuse(uow, cmd.actor, cmd.action, error, subject_ref=None)


async def purge_signatures(uow: UnitOfWork) -> int:
    """Forget signatures too old to be accepted again; the number removed."""
    return await uow.signatures.purge(uow.now() - SIGNATURE_TTL)


@dataclass(frozen=True)
class RecordPurchase:
    order_id: str
    reference: IdentityKind  # how the order system names the buyer
    reference_value: str
    purchased_at: datetime
    total: Decimal
    currency: str
    items: tuple[PurchaseItem, ...]
    followup_delay: timedelta


async def record_purchase(cmd: RecordPurchase, uow: UnitOfWork) -> PurchaseStatus:
    """Store the purchase encrypted and decide its follow-up, in the caller's transaction.

    The purchase and its follow-up are written in a savepoint: when the same order
    is recorded concurrently (PostgreSQL; SQLite's writers take turns) and the other
    request commits first, only the savepoint is undone and the answer is
    ``duplicate``, leaving the caller's transaction usable.
    """
    if await uow.purchases.exists(cmd.order_id):  # cheapest first: retries are common
        return PurchaseStatus.DUPLICATE
    customer = await find_customer(cmd.reference, cmd.reference_value, uow)
    if customer is None:
        await _ignore(cmd, uow)
        return PurchaseStatus.UNKNOWN_CUSTOMER
    try:
        async with uow.session.begin_nested():
            return await _record(cmd, customer.ref, uow)
    except exc.IntegrityError:
        # The same order arrived concurrently and the other request committed first.
        return PurchaseStatus.DUPLICATE


async def _ignore(cmd: RecordPurchase, uow: UnitOfWork) -> None:
    await uow.record(
        SYSTEM,
        "purchase.ignored",
        subject_ref=None,
        details={"order": cmd.order_id, "reason": "unknown_customer"},
    )


async def _record(cmd: RecordPurchase, ref: str, uow: UnitOfWork) -> PurchaseStatus:
    now = uow.now()
    customer = await uow.customers.get(ref, lock=True)  # serialises the interval rule
    purchase = Purchase(
        cmd.order_id, ref, cmd.purchased_at, cmd.total, cmd.currency.upper(), cmd.items
    )
    pseudonym = uow.indexer.pseudonym("purchase", ref)
    await uow.purchases.add(purchase, pseudonym=pseudonym, received_at=now)
    customer.last_active_at = max(customer.last_active_at, min(cmd.purchased_at, now))
    await uow.customers.save(customer)
    # The order id is the shop's reference, not personal; items and amount stay out.
    await uow.record(SYSTEM, "purchase.recorded", subject_ref=ref, details={"order": cmd.order_id})
    return await _schedule_followup(cmd, customer, uow)


async def _schedule_followup(
    cmd: RecordPurchase, customer: Customer, uow: UnitOfWork
) -> PurchaseStatus:
    now, policy = uow.now(), uow.policy
    zone = customer.zone(policy.zone)
    # A purchase time in the future is clock skew at the till: count from receipt.
    due = max(min(cmd.purchased_at, now) + cmd.followup_delay, now)
    run_at = outside_quiet_hours(policy, zone, due)
    if cmd.purchased_at < now - FOLLOWUP_WINDOW:
        await record_suppressed(cmd.order_id, customer.ref, "too_old", "schedule", uow)
        return PurchaseStatus.TOO_OLD
    reason = await followup_denial(customer, uow, _reference_blinds(cmd, uow))
    if reason is None:
        last = await uow.followups.latest_active(customer.ref)
        spacing = policy.followup_min_interval  # on the shop's calendar, like any period
        if last is not None and run_at < policy.calendar.later(last, spacing, zone):
            reason = "too_soon"
    if reason is not None:
        await record_suppressed(cmd.order_id, customer.ref, reason, "schedule", uow)
        return PurchaseStatus.NO_CONSENT
    await uow.followups.add(cmd.order_id, customer.ref, run_at, now)
    payload = {"order": cmd.order_id, "customer": customer.ref}
    await enqueue_job(EnqueueJob(FOLLOWUP, followup_key(cmd.order_id), payload, run_at), uow)
    await uow.record(
        SYSTEM,
        "followup.scheduled",
        subject_ref=customer.ref,
        purpose=policy.followup_purpose,
        details={"order": cmd.order_id, "run_after": run_at.isoformat()},
    )
    return PurchaseStatus.SCHEDULED


def _reference_blinds(cmd: RecordPurchase, uow: UnitOfWork) -> tuple[str, ...]:
    """The blind index of the reference the shop used (it may be a suppressed contact)."""
    value = normalise_identity(cmd.reference, cmd.reference_value, uow.policy.default_phone_region)
    return (uow.customers.blind(cmd.reference, value),)
