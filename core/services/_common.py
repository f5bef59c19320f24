"""What every use case shares: actors and the audited refusal."""

from __future__ import annotations

from typing import NoReturn

from core.errors import PrivacyError
from core.storage import UnitOfWork
from core.storage.repositories import Actor

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
    """Drop whatever the transaction did, record the denial, commit it, raise.

    Refusals must be provable later, so the audit entry is committed on its own.
    """
    await uow.rollback()
    await uow.record(
        actor,
        action,
        subject_ref=subject_ref,
        outcome="denied",
        purpose=purpose,
        details={"reason": error.code},
    )
    await uow.commit()
    raise error
