"""Use case: tell a customer something in the chat, later and reliably.

A notice is a job (kind ``notify``) in the caller's transaction: it is sent only
if the change it reports was committed, and the outbound worker sends it in the
customer's language, within Telegram's rate limits, retried until delivered.
Parameters must be references and dates, never personal data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from core.services.jobs import EnqueueJob, enqueue_job
from core.storage import UnitOfWork

__all__ = ["NOTIFY", "NotifyCustomer", "notify_customer"]

NOTIFY = "notify"


@dataclass(frozen=True)
class NotifyCustomer:
    customer_ref: str
    message_key: str  # a catalog key, e.g. "rights.request_completed"
    key: str  # idempotency key: one notice per key, ever
    params: dict[str, str] = field(default_factory=dict)
    run_after: datetime | None = None


async def notify_customer(cmd: NotifyCustomer, uow: UnitOfWork) -> bool:
    payload = {"customer": cmd.customer_ref, "message": cmd.message_key, "params": cmd.params}
    return await enqueue_job(
        EnqueueJob(NOTIFY, f"notify:{cmd.key}", payload, run_after=cmd.run_after), uow
    )
