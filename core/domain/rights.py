"""Data rights as pure rules: the inventory of holdings, corrections, re-asking.

Nothing here touches storage; services feed it what they read and act on what
it answers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from core.domain.calendar import Duration
from core.domain.categories import DataCategory
from core.domain.customer import Customer, IdentityKind
from core.domain.deadlines import add_duration
from core.domain.policy import Policy
from core.errors import InvalidInput

__all__ = [
    "CORRECTABLE",
    "IDENTITY_CHANGES_PER_DAY",
    "CategoryHolding",
    "check_correction",
    "inventory",
    "max_length",
    "may_ask_to_share_again",
]

# Fields a customer may correct, and the identity each one is searchable by.
# Changes of email or phone a customer may ask for in 24 hours: a clash with another
# customer's address is resolved only at the decision, so guessing must stay slow.
IDENTITY_CHANGES_PER_DAY = 3

CORRECTABLE: dict[str, IdentityKind | None] = {
    "name": None,
    "email": IdentityKind.EMAIL,
    "address": None,
    "phone": IdentityKind.PHONE,
}
_MAX_TEXT = {"name": 100, "address": 300}


@dataclass(frozen=True)
class CategoryHolding:
    """One category as the customer sees it: why, from where, since when, how long.

    ``counts`` name kinds of records (``purchases``, ``answers``, ...) and how many
    exist; values are never part of it.
    """

    category: str
    purposes: tuple[str, ...]
    source: str
    since: datetime | None
    retention: Duration
    legal_hold: Duration | None
    counts: dict[str, int] = field(default_factory=dict)


def inventory(
    policy: Policy,
    customer: Customer,
    *,
    purchases: int,
    first_purchase: datetime | None,
    answers: int,
    first_answer: datetime | None,
    consents: int,
    first_consent: datetime | None,
    has_conversation: bool,
) -> list[CategoryHolding]:
    """What the shop holds, per category, from counts the storage gathered."""
    contact = sum(1 for v in (customer.phone, customer.email, customer.address) if v)
    facts: dict[str, tuple[str, datetime | None, dict[str, int]]] = {
        DataCategory.IDENTITY: (
            "chat",
            customer.created_at,
            {"identities": len(customer.identities), "name": int(bool(customer.name))},
        ),
        DataCategory.CONTACT: (
            "you",
            customer.created_at if contact else None,
            {"contact": contact},
        ),
        DataCategory.BEHAVIOUR: (
            "chat",
            customer.created_at,
            {"conversation": int(has_conversation), "consents": consents},
        ),
        DataCategory.TRANSACTION: ("shop", first_purchase, {"purchases": purchases}),
        DataCategory.PREFERENCE: ("you", first_answer or first_consent, {"answers": answers}),
    }
    result = []
    for spec in policy.categories:
        source, since, counts = facts.get(spec.key, ("shop", None, {}))
        purposes = tuple(p.key for p in policy.purposes if spec.key in p.categories)
        result.append(
            CategoryHolding(
                spec.key, purposes, source, since, spec.retention, spec.legal_hold, counts
            )
        )
    return result


def max_length(field_name: str) -> int:
    """The longest value a typed correction of ``field_name`` may have."""
    return _MAX_TEXT.get(field_name, 254)


def check_correction(field_name: str, value: str) -> str:
    """The cleaned value of a typed correction, or InvalidInput (phone never typed)."""
    if field_name not in CORRECTABLE or field_name == "phone":
        raise InvalidInput("this field cannot be corrected by typing", code="bad_field")
    cleaned = " ".join(value.split())
    if not cleaned:
        raise InvalidInput("the new value is empty", code="empty_value")
    if len(cleaned) > max_length(field_name):
        raise InvalidInput("the new value is too long", code="value_too_long")
    return cleaned


def may_ask_to_share_again(policy: Policy, customer: Customer, now: datetime) -> bool:
    """False while a sale/share opt-out is younger than the regime's re-ask period."""
    opted_out = customer.flags.opted_out_sharing_at
    if opted_out is None:
        return True
    period = policy.jurisdiction(customer.jurisdiction).opt_out_reask_after
    if period is None:
        return True
    ends = add_duration(opted_out.astimezone(UTC).date(), period)
    return now.astimezone(UTC).date() >= ends
