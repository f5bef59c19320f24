"""What every use case shares: actors and the audited refusal."""

from __future__ import annotations

from typing import NoReturn

from core.domain.actor import Actor
from core.errors import PrivacyError
from core.storage import UnitOfWork

__all__ = ["SYSTEM", "customer_actor", "refuse"]

SYSTEM = Actor("system", "system")


def customer_actor(customer_ref: str) -> Actor:
    return Actor("customer", customer_ref)


async def refuse(
    uow: UnitOfWork,
    actor: Actor,
    action: str,
    error: PrivacyError,
    *,
    subject_ref: str | None,
    purpose: str | None = None,
) -> NoReturn:
    """Record the denial and raise: the refused work is rolled back by whoever
    catches it (an ``uow.attempt()``, or the unit of work itself), and the denial's
    audit entry is written after that rollback, so it is provable later."""
    uow.deny(actor, action, error, subject_ref=subject_ref, purpose=purpose)
    raise error
