"""Policy rules: pure functions over the policy, a customer and their consents.

Services call these before changing anything; a rule answers by raising one of
the ``PolicyDenied`` errors, which the service audits as a denial.
"""

from __future__ import annotations

from datetime import datetime

from core.domain.consent import ConsentEntry, ConsentStanding, consent_standing
from core.domain.customer import Customer
from core.domain.policy import Policy
from core.errors import ConsentRequired, PolicyDenied, RestrictedProcessing

__all__ = ["check_consent_change", "check_may_contact", "purpose_in_use"]


def check_consent_change(
    policy: Policy,
    customer: Customer,
    purpose: str,
    *,
    give: bool,
    now: datetime,
    separately: bool = False,
) -> None:
    """``separately``: given on the purpose's own screen, as PIPL's separate consents
    must be (never bundled with another purpose); withdrawing works from anywhere."""
    spec = policy.purpose(purpose)
    if not spec.consent_based:
        raise PolicyDenied("this purpose is not based on consent", code="not_switchable")
    if give and spec.separate is not None and not separately:
        raise PolicyDenied(
            f"consent to {purpose} is given on its own screen only (PIPL Art. "
            f"{spec.separate.article})",
            code="separate_consent_required",
        )
    if give and spec.marketing and customer.flags.objected_marketing:
        raise RestrictedProcessing("the customer objected to marketing", code="objected")
    if give and spec.sharing and customer.flags.opted_out_sharing:
        raise RestrictedProcessing("the customer opted out of sharing", code="opted_out")


def check_may_contact(
    policy: Policy, customer: Customer, purpose: str, consents: dict[str, ConsentEntry]
) -> None:
    """May the shop use ``purpose`` to reach out to this customer now?"""
    spec = policy.purpose(purpose)
    if customer.flags.restricted:
        raise RestrictedProcessing("processing is restricted", code="restricted")
    if spec.marketing and customer.flags.objected_marketing:
        raise RestrictedProcessing("the customer objected to marketing", code="objected")
    if spec.consent_based:
        standing = consent_standing(consents.get(purpose), policy.notice_version)
        if standing is ConsentStanding.STALE:
            raise ConsentRequired("consent was given under an older notice", code="stale_notice")
        if not standing.in_force:
            raise ConsentRequired("no consent for this purpose", code="no_consent")


def purpose_in_use(
    policy: Policy, customer: Customer, purpose: str, consents: dict[str, ConsentEntry]
) -> bool:
    """May the shop use the customer's data for ``purpose`` now? Always for what the
    service needs; else only with consent in force, and never for direct marketing
    while they object to it (the objection overrides a consent)."""
    spec = policy.purpose(purpose)
    if not spec.consent_based:
        return True
    if spec.marketing and customer.flags.objected_marketing:
        return False
    return consent_standing(consents.get(purpose), policy.notice_version).in_force
