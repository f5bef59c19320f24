"""Use cases: tell the shop's other systems about erasures, corrections, restrictions.

GDPR Art. 19 asks the shop to pass these on to every recipient of the data. Each
(request, system) pair is one durable ``downstream`` job, enqueued in the same
transaction as the change: it is retried with backoff until the system answers
2xx, and the request then records that system's confirmation once.

The event body is pseudonymous (documented in ``downstream_event``): the
customer's ref and the request's, never a name, phone, email or the new value
of a corrected field. Receivers must treat ``id`` as an idempotency key: a
retry after a lost answer re-sends the same ``id``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.domain.requests import DataRequest
from core.services._common import SYSTEM
from core.services.jobs import EnqueueJob, enqueue_job
from core.storage import UnitOfWork

__all__ = [
    "DOWNSTREAM",
    "MAX_ATTEMPTS",
    "ConfirmDelivery",
    "body_of",
    "confirm_delivery",
    "downstream_event",
    "notify_downstream",
    "sign",
]

DOWNSTREAM = "downstream"
# Roughly two days of retries at the capped backoff (one hour): "down for hours".
MAX_ATTEMPTS = 60


def downstream_event(
    request: DataRequest, event_type: str, at: datetime, facts: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The JSON event, stable keys:

    - ``id``: ``<request ref>:<type>``, the same on every retry (idempotency key)
    - ``type``: ``erasure`` | ``rectification`` | ``restriction``
    - ``request``: the data request's ref; ``customer``: the customer's pseudonymous ref
    - ``occurred_at``: ISO 8601 UTC
    - ``facts``: for rectification the names of the corrected fields
      (``{"fields": ["email"]}``), for restriction the flags
      (``{"restrict": true}``, ``{"object": true}``, ``{"optout": true}``); empty for erasure
    """
    return {
        "id": f"{request.ref}:{event_type}",
        "type": event_type,
        "request": request.ref,
        "customer": request.customer_ref,
        "occurred_at": at.isoformat(),
        "facts": facts or {},
    }


async def notify_downstream(
    request: DataRequest,
    event_type: str,
    systems: Iterable[str],
    uow: UnitOfWork,
    *,
    facts: dict[str, Any] | None = None,
) -> int:
    """Enqueue one delivery per system; returns how many were new."""
    event = downstream_event(request, event_type, uow.now(), facts)
    added = 0
    for system in systems:
        payload = {"request": request.ref, "system": system, "event": event}
        key = f"{DOWNSTREAM}:{request.ref}:{event_type}:{system}"
        added += await enqueue_job(
            EnqueueJob(DOWNSTREAM, key, payload, max_attempts=MAX_ATTEMPTS), uow
        )
    return added


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """``X-Privacy-Signature`` value, the purchase callback's scheme turned outward."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def body_of(event: dict[str, Any]) -> bytes:
    return json.dumps(event, sort_keys=True, separators=(",", ":")).encode()


@dataclass(frozen=True)
class ConfirmDelivery:
    request_ref: str
    system: str


async def confirm_delivery(cmd: ConfirmDelivery, uow: UnitOfWork) -> bool:
    """Record the system's acknowledgement once; False if already known."""
    if cmd.system in await uow.requests.confirmations(cmd.request_ref):
        return False
    await uow.requests.confirm(cmd.request_ref, cmd.system, uow.now())
    request = await uow.requests.get(cmd.request_ref)
    await uow.record(
        SYSTEM,
        "downstream.confirmed",
        subject_ref=request.customer_ref,
        details={"request": cmd.request_ref, "system": cmd.system},
    )
    return True
