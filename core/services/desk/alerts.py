"""Use case: tell the staff who watch the queue about something now, not in the digest.

An alert is a ``staff_alert`` job in the caller's transaction (sent only if the change
it reports was committed); the bot writes it from a catalog key in each member's
language. Parameters are references and codes, never personal data.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from core.domain.policy import Permission
from core.services.jobs import EnqueueJob, enqueue_job
from core.storage import UnitOfWork

__all__ = ["STAFF_ALERT", "AlertStaff", "alert_staff", "queue_watchers"]

STAFF_ALERT = "staff_alert"


@dataclass(frozen=True)
class AlertStaff:
    key: str  # idempotency: one alert per key, ever
    message_key: str
    params: dict[str, str] = field(default_factory=dict)


async def alert_staff(cmd: AlertStaff, uow: UnitOfWork) -> bool:
    payload = {"message": cmd.message_key, "params": cmd.params}
    return await enqueue_job(EnqueueJob(STAFF_ALERT, f"{STAFF_ALERT}:{cmd.key}", payload), uow)


async def queue_watchers(uow: UnitOfWork) -> list[int]:
    """The Telegram ids of staff who may see the request queue."""
    staff = await uow.staff.all()
    allowed = (s for s in staff if uow.policy.allows(s.role.value, Permission.QUEUE_VIEW.value))
    return [s.telegram_id for s in allowed]
