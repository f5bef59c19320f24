"""Use cases: a staff member looks a customer up, for a stated reason; an admin reveals.

Agents see masked values; revealing in full needs ``lookup.reveal``. Each look-up
and each reveal is audited with its reason (its category in clear, its text sealed
under the customer's key: core/services/desk/reasons.py), never with the searched
value.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from core.domain.actor import Actor
from core.domain.customer import Customer, IdentityKind
from core.domain.masking import mask_email, mask_member, mask_name, mask_phone
from core.domain.policy import Permission
from core.errors import InvalidInput, PrivacyError
from core.services._common import refuse
from core.services.customers import find_customer
from core.services.desk.queue import permit
from core.services.desk.reasons import MAX_REASON, open_reason, parse_reason, seal_reason
from core.storage import UnitOfWork

__all__ = ["FIELDS", "Lookup", "LookupResult", "Reveal", "lookup_customer", "reveal_customer"]

FIELDS = ("name", "phone", "email", "member_no")
_MASKS = {"name": mask_name, "phone": mask_phone, "email": mask_email, "member_no": mask_member}


@dataclass(frozen=True)
class Lookup:
    by: int | None
    query: str  # a phone number, an email address or a member number
    reason: str


@dataclass(frozen=True)
class LookupResult:
    customer_ref: str | None
    fields: dict[str, str] = field(default_factory=dict)  # masked unless revealed
    may_reveal: bool = False
    reason: str = ""  # as typed, for the staff member's screen now
    sealed_reason: str = ""  # as stored: what a reveal after this look-up carries


async def lookup_customer(cmd: Lookup, uow: UnitOfWork) -> LookupResult:
    actor = await permit(cmd.by, Permission.LOOKUP_MASKED, "staff.lookup", uow)
    typed = await _typed(cmd.reason, actor, "staff.lookup", None, uow)
    kind, customer = await _find(cmd.query, actor, uow)
    ref = customer.ref if customer is not None else None
    sealed = await seal_reason(typed, ref, uow)
    details = {"reason": sealed, "by": kind.value, "found": customer is not None}
    await uow.record(actor, "staff.lookup", subject_ref=ref, details=details)
    may_reveal = cmd.by is None or uow.policy.allows(
        (await _role(cmd.by, uow)), Permission.LOOKUP_REVEAL.value
    )
    if customer is None:
        return LookupResult(None, reason=typed)
    return LookupResult(ref, _view(customer, masked=True), may_reveal, typed, sealed)


@dataclass(frozen=True)
class Reveal:
    by: int | None
    customer_ref: str
    reason: str  # typed, or (``sealed``) the stored form a look-up gave
    sealed: bool = False


async def reveal_customer(cmd: Reveal, uow: UnitOfWork) -> LookupResult:
    actor = await permit(cmd.by, Permission.LOOKUP_REVEAL, "staff.reveal", uow)
    customer = await uow.customers.get(cmd.customer_ref)
    if cmd.sealed:
        sealed = cmd.reason
        typed = (await open_reason(sealed, cmd.customer_ref, uow)).note or sealed
    else:
        typed = await _typed(cmd.reason, actor, "staff.reveal", cmd.customer_ref, uow)
        sealed = await seal_reason(typed, cmd.customer_ref, uow)
    shown = [name for name in FIELDS if getattr(customer, name)]
    details = {"reason": sealed, "fields": shown}
    await uow.record(actor, "staff.reveal", subject_ref=customer.ref, details=details)
    return LookupResult(customer.ref, _view(customer, masked=False), False, typed, sealed)


async def _typed(raw: str, actor: Actor, action: str, subject: str | None, uow: UnitOfWork) -> str:
    reason = parse_reason(raw)
    if reason is None:
        error = InvalidInput("a look-up needs a reason", code="reason_required")
        await refuse(uow, actor, action, error, subject_ref=subject)
    return " ".join((raw or "").split())[:MAX_REASON]


async def _find(query: str, actor: Actor, uow: UnitOfWork) -> tuple[IdentityKind, Customer | None]:
    """Email if it has an @, else a phone number if it reads as one, else a member number."""
    text = query.strip()
    if not text or len(text) > 100:
        await refuse(
            uow,
            actor,
            "staff.lookup",
            InvalidInput("bad query", code="bad_query"),
            subject_ref=None,
        )
    kinds = [IdentityKind.EMAIL] if "@" in text else [IdentityKind.PHONE, IdentityKind.MEMBER]
    last: PrivacyError | None = None
    for kind in kinds:
        try:
            found = await find_customer(kind, text, uow)
        except InvalidInput as error:
            last = error
            continue
        if found is not None or kind is kinds[-1]:
            return kind, found
    if last is not None and len(kinds) == 1:
        await refuse(uow, actor, "staff.lookup", last, subject_ref=None)
    return kinds[-1], None


async def _role(telegram_id: int, uow: UnitOfWork) -> str:
    staff = await uow.staff.get(telegram_id)
    return staff.role.value if staff is not None else ""


def _view(customer: Customer, *, masked: bool) -> dict[str, str]:
    view: dict[str, str] = {}
    for name in FIELDS:
        value = getattr(customer, name)
        if value:
            view[name] = _MASKS[name](value) if masked else value
    return view
