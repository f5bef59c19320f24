"""Use cases: register and find customers, set their language."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy.exc import IntegrityError

from core.crypto import normalise_email, normalise_phone
from core.domain.customer import ACTIVITY_RESOLUTION, Customer, Identity, IdentityKind
from core.errors import Conflict, InvalidInput, NotFound
from core.ids import new_ref
from core.services._common import SYSTEM, customer_actor, refuse
from core.storage import UnitOfWork

__all__ = [
    "LANGUAGES",
    "ChangeLanguage",
    "RegisterCustomer",
    "ReportBlocked",
    "change_language",
    "contact_blinds",
    "erased_before",
    "find_customer",
    "mark_reachable",
    "mark_unreachable",
    "normalise_identity",
    "note_message",
    "register_customer",
    "report_blocked",
]

LANGUAGES = ("en", "zh_Hans", "zh_Hant")
# Identities the messaging platform itself proves: the account writing is that id.
_VERIFIED_BY_PLATFORM = frozenset({IdentityKind.TELEGRAM, IdentityKind.WHATSAPP})
# Identities that are also contact data the customer can see and correct.
_CONTACT_FIELD = {
    IdentityKind.PHONE: "phone",
    IdentityKind.EMAIL: "email",
    IdentityKind.MEMBER: "member_no",
}


@dataclass(frozen=True)
class RegisterCustomer:
    """Find the customer known by ``identity``, or create them (first contact)."""

    kind: IdentityKind
    value: str
    language: str = "en"
    channel: str = "telegram"
    name: str | None = None
    create: bool = True  # False: only find them (a button press is no first contact)


def normalise_identity(kind: IdentityKind, raw: str, default_region: str) -> str:
    if kind is IdentityKind.PHONE:
        return normalise_phone(raw, default_region)
    if kind is IdentityKind.EMAIL:
        return normalise_email(raw)
    if kind is IdentityKind.WHATSAPP:
        digits = raw.strip().lstrip("+")
        if not (digits.isascii() and digits.isdigit() and 1 <= len(digits) <= 15):
            raise InvalidInput("not a WhatsApp id", code="bad_identity")
        return digits
    value = raw.strip()
    if not value:
        raise InvalidInput("an identity must not be empty", code="bad_identity")
    return value


async def find_customer(kind: IdentityKind, raw: str, uow: UnitOfWork) -> Customer | None:
    value = normalise_identity(kind, raw, uow.policy.default_phone_region)
    return await uow.customers.find(kind, value)


async def register_customer(cmd: RegisterCustomer, uow: UnitOfWork) -> tuple[Customer, bool]:
    """The customer and whether they were created now."""
    value = normalise_identity(cmd.kind, cmd.value, uow.policy.default_phone_region)
    existing = await uow.customers.find(cmd.kind, value, lock=True)  # theirs for this turn
    if existing is not None:
        return existing, False
    if not cmd.create:
        raise NotFound("nobody is known by this identity", code="unknown_customer")
    phone = f"+{value}" if cmd.kind is IdentityKind.WHATSAPP else None
    if phone is not None and (joined := await _join_by_verified_phone(value, phone, uow)):
        return joined, False
    now = uow.now()
    customer = Customer(
        ref=new_ref("c"),
        created_at=now,
        last_active_at=now,
        language=cmd.language if cmd.language in LANGUAGES else "en",
        jurisdiction=uow.policy.default_jurisdiction,
        name=cmd.name,
        identities=[Identity(cmd.kind, value, verified=cmd.kind in _VERIFIED_BY_PLATFORM)],
    )
    if cmd.kind in _CONTACT_FIELD:
        setattr(customer, _CONTACT_FIELD[cmd.kind], value)
    if phone is not None and await _phone_free(phone, uow):
        # WhatsApp verified the number: it is their verified phone too.
        customer.identities.append(Identity(IdentityKind.PHONE, phone, verified=True))
        customer.phone = phone
    try:
        async with uow.session.begin_nested():
            await uow.customers.add(customer)
    except (IntegrityError, Conflict):
        # The same person's first two messages raced; the other one registered them
        # (found as a unique-index clash, or as "that identity is taken" if it committed
        # between our look-up and our insert).
        existing = await uow.customers.find(cmd.kind, value)
        if existing is None:
            raise
        return existing, False
    await uow.record(
        customer_actor(customer.ref),
        "customer.registered",
        subject_ref=customer.ref,
        details={"identity": cmd.kind.value, "channel": cmd.channel},
    )
    return customer, True


async def _phone_free(phone: str, uow: UnitOfWork) -> bool:
    """A well-formed number nobody holds yet."""
    try:
        normalised = normalise_phone(phone, uow.policy.default_phone_region)
    except InvalidInput:
        return False
    return normalised == phone and await uow.customers.find(IdentityKind.PHONE, phone) is None


async def _join_by_verified_phone(wa_id: str, phone: str, uow: UnitOfWork) -> Customer | None:
    """The customer already known by this phone, verified (on Telegram, say), now also
    on WhatsApp: one customer across apps. Never on an unverified claim of the number."""
    owner = await uow.customers.find(IdentityKind.PHONE, phone, lock=True)
    if owner is None or not any(
        i.kind is IdentityKind.PHONE and i.value == phone and i.verified for i in owner.identities
    ):
        return None
    try:
        async with uow.session.begin_nested():
            identity = Identity(IdentityKind.WHATSAPP, wa_id, True)
            await uow.customers.add_identity(owner.ref, identity)
    except (IntegrityError, Conflict):  # their first two messages raced: joined already
        return await uow.customers.find(IdentityKind.WHATSAPP, wa_id, lock=True)
    await uow.record(
        customer_actor(owner.ref),
        "customer.joined",
        subject_ref=owner.ref,
        details={"identity": IdentityKind.WHATSAPP.value, "by": "verified_phone"},
    )
    # A number can change hands: the account it joined hears of it where it already
    # talks to us (Telegram), and can say it was not them. (Imported here: the notices
    # module uses this one.)
    from core.services.outreach.notices import NotifyCustomer, notify_customer

    await notify_customer(
        NotifyCustomer(
            owner.ref, "customer.joined_whatsapp", key=f"joined:{owner.ref}", telegram_only=True
        ),
        uow,
    )
    return await uow.customers.get(owner.ref, lock=True)


@dataclass(frozen=True)
class ChangeLanguage:
    customer_ref: str
    language: str


async def change_language(cmd: ChangeLanguage, uow: UnitOfWork) -> Customer:
    actor = customer_actor(cmd.customer_ref)
    if cmd.language not in LANGUAGES:
        await refuse(
            uow,
            actor,
            "customer.language",
            InvalidInput("unknown language"),
            subject_ref=cmd.customer_ref,
        )
    customer = await uow.customers.get(cmd.customer_ref, lock=True)
    customer.language = cmd.language
    customer.touch(uow.now())
    await uow.customers.save(customer)
    await uow.record(
        actor, "customer.language", subject_ref=customer.ref, details={"language": cmd.language}
    )
    return customer


async def note_message(
    customer: Customer, uow: UnitOfWork, sent_at: datetime | None = None
) -> Customer:
    """They wrote on WhatsApp at ``sent_at`` (the platform's time; else now): its 24-hour
    window for free-form messages runs from there, never from a late redelivery (kept
    to the minute, so a burst of messages rewrites their row once)."""
    now = uow.now()
    sent = min(sent_at or now, now)
    last = customer.last_message_at
    if last is not None and sent - last < ACTIVITY_RESOLUTION:
        return customer
    locked = await uow.customers.get(customer.ref, lock=True)
    locked.last_message_at = sent
    locked.touch(now)
    await uow.customers.save(locked)
    return locked


async def mark_reachable(customer: Customer, uow: UnitOfWork) -> Customer:
    """The customer wrote to the bot again, so they unblocked it: lift "unreachable".

    Telegram only lets a bot message someone who has not blocked it; a new message
    from them proves the block is gone.
    """
    if not customer.flags.unreachable:
        return customer
    locked = await uow.customers.get(customer.ref, lock=True)
    locked.flags = replace(locked.flags, unreachable=False)
    await uow.customers.save(locked)
    await uow.record(customer_actor(locked.ref), "customer.reachable", subject_ref=locked.ref)
    return locked


async def mark_unreachable(customer_ref: str, uow: UnitOfWork) -> None:
    """The customer blocked the bot: no unprompted message goes to them any more.

    In the caller's transaction (the caller commits together with its own audit).
    """
    try:
        customer = await uow.customers.get(customer_ref, lock=True)
    except NotFound:
        return
    if customer.flags.unreachable:
        return
    customer.flags = replace(customer.flags, unreachable=True)
    await uow.customers.save(customer)
    await uow.record(
        SYSTEM, "customer.unreachable", subject_ref=customer_ref, details={"reason": "blocked"}
    )


@dataclass(frozen=True)
class ReportBlocked:
    telegram_id: str


async def report_blocked(cmd: ReportBlocked, uow: UnitOfWork) -> None:
    """Telegram refused a reply because the person blocked the bot.

    Someone who never became a customer (a staff member, say) is left alone.
    """
    customer = await uow.customers.find(IdentityKind.TELEGRAM, cmd.telegram_id)
    if customer is None or customer.flags.unreachable:
        return
    await mark_unreachable(customer.ref, uow)


async def contact_blinds(customer_ref: str, uow: UnitOfWork) -> set[tuple[str, str]]:
    """Phone and email held as contact fields but not (yet) as identities."""
    try:
        customer = await uow.customers.get(customer_ref)
    except NotFound:
        return set()
    found: set[tuple[str, str]] = set()
    region = uow.policy.default_phone_region
    for kind, raw, normalise in (
        (IdentityKind.PHONE, customer.phone, lambda v: normalise_phone(v, region)),
        (IdentityKind.EMAIL, customer.email, normalise_email),
    ):
        if raw:
            try:
                found.add((kind.value, uow.customers.blind(kind, normalise(raw))))
            except InvalidInput:
                continue  # an unreadable old value cannot be matched later either
    return found


async def erased_before(customer_ref: str, uow: UnitOfWork) -> bool:
    """Was an earlier customer with one of these identities erased (the suppression
    list holds their keyed hash)? Then this one is a fresh start, and is told so."""
    blinds = [blind for _, blind in await uow.customers.identity_blinds(customer_ref)]
    return await uow.suppressions.listed_at(blinds) is not None
