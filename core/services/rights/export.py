"""Use cases: access and portability ("give me a copy of my data").

``holdings`` says what the shop holds, per category (counts and dates, never values).

``request_export`` opens a portability request within the policy's hourly rate
limit (refusals audited) and says whether the copy is built in the background
(an ``export`` job: large histories, or kinds waiting for staff approval).
``export_snapshot`` and ``export_purchases`` read exactly one customer's data;
purchases stream in batches so memory stays flat for tens of thousands.

A copy built in the background is delivered at most once, like a follow-up
(core/services/outreach/followups.py): ``start_export_delivery`` commits a "sending"
marker before the document leaves; ``complete_export`` closes the request once
Telegram confirmed it; ``export_not_delivered`` clears the marker when Telegram
certainly did not take it (so a retry may send). A marker found by a later attempt
(the process died mid-send), or an answer that never came, ends in
``export_uncertain``: the request is completed without a second copy, audited as
uncertain, and the customer is told the copy may have arrived and that /export asks
for a new one (which the hourly limit then does not count against).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from core.audit import AuditEntry
from core.domain.consent import ConsentEntry
from core.domain.customer import Customer
from core.domain.job import EXPORT
from core.domain.purchase import Purchase
from core.domain.requests import DataRequest, Delivery, RequestKind
from core.domain.rights import CategoryHolding, inventory
from core.domain.survey import Answer
from core.errors import RateLimited
from core.services._common import customer_actor, refuse
from core.services.desk.reasons import opened_text
from core.services.jobs import enqueue_request_job
from core.services.outreach.notices import NotifyCustomer, notify_customer
from core.services.rights.requests import OpenRight, complete_request, open_right
from core.storage import UnitOfWork

__all__ = [
    "EXPORT",
    "INLINE_PURCHASES",
    "DeliveryStart",
    "ExportSnapshot",
    "ExportUncertain",
    "RequestExport",
    "complete_export",
    "export_not_delivered",
    "export_purchases",
    "export_snapshot",
    "export_uncertain",
    "holdings",
    "request_export",
    "start_export_delivery",
]


async def holdings(customer_ref: str, uow: UnitOfWork) -> list[CategoryHolding]:
    customer = await uow.customers.get(customer_ref)
    found = await uow.holdings.of(customer_ref)
    return inventory(
        uow.policy,
        customer,
        purchases=found.purchases,
        first_purchase=found.first_purchase,
        answers=found.answers,
        first_answer=found.first_answer,
        consents=found.consents,
        first_consent=found.first_consent,
        has_conversation=found.has_conversation,
    )


# Up to this many purchases the copy is built while the customer waits.
INLINE_PURCHASES = 500


@dataclass(frozen=True)
class RequestExport:
    customer_ref: str
    channel: str = "telegram"
    received_at: datetime | None = None  # an agent's request: when the agent sent it


async def request_export(cmd: RequestExport, uow: UnitOfWork) -> tuple[DataRequest, bool]:
    """The new request and whether a background job builds the copy."""
    customer = await uow.customers.get(cmd.customer_ref, lock=True)
    since = uow.now() - timedelta(hours=1)
    # A copy whose delivery was uncertain does not count: the customer was told to ask again.
    used = await uow.requests.received_since(
        customer.ref, RequestKind.PORTABILITY.value, since, skip_uncertain=True
    )
    limit = uow.policy.export_rate_limit
    if len(used) >= limit:
        # The next copy may be asked for once enough of these are an hour old.
        retry_at = used[len(used) - limit] + timedelta(hours=1)
        error = RateLimited("too many copies asked for this hour", code="rate_limited")
        error.retry_at = retry_at
        await refuse(
            uow, customer_actor(customer.ref), "request.opened", error, subject_ref=customer.ref
        )
    opened = OpenRight(
        customer.ref, RequestKind.PORTABILITY, cmd.channel, received_at=cmd.received_at
    )
    request = await open_right(opened, uow)
    found = await uow.holdings.of(customer.ref)
    background = found.purchases > INLINE_PURCHASES or uow.policy.needs_approval(
        RequestKind.PORTABILITY.value
    )
    if background:
        await enqueue_request_job(EXPORT, request.ref, uow)
    return request, background


@dataclass(frozen=True)
class ExportSnapshot:
    """Everything but the purchases, which stream (``export_purchases``)."""

    customer: Customer
    holdings: list[CategoryHolding]
    consents: list[ConsentEntry]
    answers: list[Answer]
    requests: list[tuple[DataRequest, dict[str, str]]]
    audit: list[AuditEntry]
    pending: dict[str, tuple[str, str]] = field(default_factory=dict)  # request -> field, value


async def export_snapshot(customer_ref: str, uow: UnitOfWork) -> ExportSnapshot:
    customer = await uow.customers.get(customer_ref)
    requests = [
        (await _readable(r, uow), await uow.requests.confirmations(r.ref))
        for r in await uow.requests.for_customer(customer_ref)
    ]
    pending = {
        r.ref: change
        for r, _ in requests
        if not r.state.closed and (change := await uow.requests.peek_pending(r.ref)) is not None
    }
    return ExportSnapshot(
        customer=customer,
        holdings=await holdings(customer_ref, uow),
        consents=await uow.consents.history(customer_ref),
        answers=await uow.surveys.answers(customer_ref),
        requests=requests,
        audit=await uow.audit.about(customer_ref),
        pending=pending,
    )


async def _readable(request: DataRequest, uow: UnitOfWork) -> DataRequest:
    """The request with the reasons staff gave it opened: the customer was told them."""
    history = []
    for at, state, note in request.history:
        history.append((at, state, note and await opened_text(note, request.customer_ref, uow)))
    return replace(request, history=history)


def export_purchases(customer_ref: str, uow: UnitOfWork) -> AsyncIterator[Purchase]:
    return uow.purchases.for_customer(customer_ref, batch=500)


async def complete_export(request_ref: str, size: int, uow: UnitOfWork) -> DataRequest:
    """The copy was delivered: close the request."""
    request = await uow.requests.get(request_ref, lock=True)
    if request.state.closed:
        return request
    await uow.requests.set_delivery(request.ref, None)  # confirmed: nothing in doubt
    await uow.record(
        customer_actor(request.customer_ref),
        "export.delivered",
        subject_ref=request.customer_ref,
        details={"request": request.ref, "bytes": size},
    )
    done = await complete_request(request, uow, note="delivered in chat", notify=False)
    return done


# --- delivering a copy built in the background: at most once ---------------------------


class DeliveryStart(StrEnum):
    SEND = "send"  # marked "sending" (committed): send the document now
    CLOSED = "closed"  # answered or rejected meanwhile: nothing to send
    INTERRUPTED = "interrupted"  # an earlier attempt may have sent it: never again


async def start_export_delivery(request_ref: str, uow: UnitOfWork) -> DeliveryStart:
    """Mark the delivery as being attempted before the document leaves."""
    request = await uow.requests.get(request_ref, lock=True)
    if request.state.closed:
        return DeliveryStart.CLOSED
    if await uow.requests.delivery(request.ref) == Delivery.SENDING:
        return DeliveryStart.INTERRUPTED
    await uow.requests.set_delivery(request.ref, Delivery.SENDING)
    return DeliveryStart.SEND


async def export_not_delivered(request_ref: str, uow: UnitOfWork) -> None:
    """Telegram certainly did not take the document: a later attempt may send."""
    request = await uow.requests.get(request_ref, lock=True)
    if not request.state.closed and await uow.requests.delivery(request.ref) == Delivery.SENDING:
        await uow.requests.set_delivery(request.ref, None)


@dataclass(frozen=True)
class ExportUncertain:
    request_ref: str
    # "interrupted": a marker left by an attempt that died mid-send;
    # "delivery_unknown": the request went out and no answer came (timeout, dropped).
    reason: str


async def export_uncertain(cmd: ExportUncertain, uow: UnitOfWork) -> DataRequest:
    """The copy may have arrived: close the request without sending it again, audit the
    uncertainty and tell the customer they may ask again."""
    request = await uow.requests.get(cmd.request_ref, lock=True)
    if request.state.closed:
        return request
    await uow.requests.set_delivery(request.ref, Delivery.UNCERTAIN)
    await uow.record(
        customer_actor(request.customer_ref),
        "export.uncertain",
        subject_ref=request.customer_ref,
        outcome=Delivery.UNCERTAIN.value,
        details={"request": request.ref, "reason": cmd.reason},
    )
    done = await complete_request(request, uow, note="delivery uncertain", notify=False)
    await notify_customer(
        NotifyCustomer(
            done.customer_ref,
            "rights.notice.export_uncertain",
            key=f"{done.ref}:export_uncertain",
            params={"request": done.ref},
        ),
        uow,
    )
    return done
