"""Use cases: access and portability ("give me a copy of my data").

``request_export`` opens a portability request within the policy's hourly rate
limit (refusals audited) and says whether the copy is built in the background
(an ``export`` job: large histories, or kinds waiting for staff approval).
``export_snapshot`` and ``export_purchases`` read exactly one customer's data;
purchases stream in batches so memory stays flat for tens of thousands.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

from core.audit import AuditEntry
from core.domain.consent import ConsentEntry
from core.domain.customer import Customer
from core.domain.purchase import Purchase
from core.domain.requests import DataRequest, RequestKind
from core.domain.rights import CategoryHolding
from core.domain.survey import Answer
from core.errors import RateLimited
from core.services._common import customer_actor, refuse
from core.services.jobs import EnqueueJob, enqueue_job
from core.services.rights import OpenRight, complete_request, holdings, open_right
from core.storage import UnitOfWork

__all__ = [
    "EXPORT",
    "INLINE_PURCHASES",
    "ExportSnapshot",
    "RequestExport",
    "complete_export",
    "export_purchases",
    "export_snapshot",
    "request_export",
]

EXPORT = "export"
# Up to this many purchases the copy is built while the customer waits.
INLINE_PURCHASES = 500


@dataclass(frozen=True)
class RequestExport:
    customer_ref: str
    channel: str = "telegram"


async def request_export(cmd: RequestExport, uow: UnitOfWork) -> tuple[DataRequest, bool]:
    """The new request and whether a background job builds the copy (commits)."""
    customer = await uow.customers.get(cmd.customer_ref, lock=True)
    since = uow.now() - timedelta(hours=1)
    used = await uow.rights.requests_since(customer.ref, RequestKind.PORTABILITY.value, since)
    if used >= uow.policy.export_rate_limit:
        await refuse(
            uow,
            customer_actor(customer.ref),
            "request.opened",
            RateLimited("too many copies asked for this hour", code="rate_limited"),
            subject_ref=customer.ref,
        )
    request = await open_right(OpenRight(customer.ref, RequestKind.PORTABILITY, cmd.channel), uow)
    found = await uow.rights.holdings(customer.ref)
    background = found.purchases > INLINE_PURCHASES or uow.policy.needs_approval(
        RequestKind.PORTABILITY.value
    )
    if background:
        await enqueue_job(
            EnqueueJob(
                EXPORT, f"{EXPORT}:{request.ref}", {"request": request.ref}, max_attempts=10_000
            ),
            uow,
        )
    await uow.commit()
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


async def export_snapshot(customer_ref: str, uow: UnitOfWork) -> ExportSnapshot:
    customer = await uow.customers.get(customer_ref)
    requests = [
        (r, await uow.requests.confirmations(r.ref))
        for r in await uow.requests.for_customer(customer_ref)
    ]
    return ExportSnapshot(
        customer=customer,
        holdings=await holdings(customer_ref, uow),
        consents=await uow.consents.history(customer_ref),
        answers=await uow.surveys.answers(customer_ref),
        requests=requests,
        audit=await uow.audit.about(customer_ref),
    )


def export_purchases(customer_ref: str, uow: UnitOfWork) -> AsyncIterator[Purchase]:
    return uow.purchases.for_customer(customer_ref, batch=500)


async def complete_export(request_ref: str, size: int, uow: UnitOfWork) -> DataRequest:
    """The copy was delivered: close the request (commits)."""
    request = await uow.requests.get(request_ref, lock=True)
    if request.state.closed:
        return request
    await uow.record(
        customer_actor(request.customer_ref),
        "export.delivered",
        subject_ref=request.customer_ref,
        details={"request": request.ref, "bytes": size},
    )
    done = await complete_request(request, uow, note="delivered in chat", notify=False)
    await uow.commit()
    return done
