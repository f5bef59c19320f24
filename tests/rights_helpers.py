"""Helpers shared by the data-rights tests: customers, purchases, jobs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import update

from core.app import PrivacyCore
from core.domain.actor import Actor
from core.domain.customer import IdentityKind
from core.domain.purchase import Purchase, PurchaseItem
from core.domain.requests import RequestState
from core.services import MoveRequest, RegisterCustomer, move_request, register_customer
from core.storage.tables import JobRow

STAFF = Actor("staff", "s-test")


async def telegram_customer(core: PrivacyCore, user_id: int, **fields: str) -> str:
    async with core.uow() as uow:
        customer, _ = await register_customer(
            RegisterCustomer(IdentityKind.TELEGRAM, str(user_id)), uow
        )
        await uow.commit()
    if fields:
        async with core.uow() as uow:
            c = await uow.customers.get(customer.ref, lock=True)
            for name, value in fields.items():
                setattr(c, name, value)
            await uow.customers.save(c)
            await uow.commit()
    return customer.ref


async def phone_customer(core: PrivacyCore, phone: str) -> str:
    async with core.uow() as uow:
        customer, _ = await register_customer(RegisterCustomer(IdentityKind.PHONE, phone), uow)
        await uow.commit()
    return customer.ref


async def add_purchases(
    core: PrivacyCore, customer_ref: str, order_ids: list[str], *, item: str = "Green tea"
) -> None:
    async with core.uow() as uow:
        for n, order_id in enumerate(order_ids):
            purchase = Purchase(
                order_id=order_id,
                customer_ref=customer_ref,
                purchased_at=datetime(2026, 11, 1, tzinfo=UTC) + timedelta(minutes=n),
                total=Decimal("12.50"),
                currency="HKD",
                items=(PurchaseItem("sku-1", item, 1, Decimal("12.50")),),
            )
            await uow.purchases.add(
                purchase,
                pseudonym=uow.indexer.pseudonym("purchase", customer_ref),
                received_at=uow.now(),
            )
        await uow.commit()


async def approve(core: PrivacyCore, request_ref: str) -> None:
    async with core.uow() as uow:
        await move_request(MoveRequest(request_ref, RequestState.IN_PROGRESS, STAFF, "ok"), uow)
        await uow.commit()


async def erase(core: PrivacyCore, customer_ref: str) -> None:
    """The customer's erasure, asked, approved and carried out (no messages sent)."""
    from core.services.rights.erasure import (
        EraseCustomer,
        RequestErasure,
        erase_customer,
        request_erasure,
    )

    async with core.uow() as uow:
        erasure, _ = await request_erasure(RequestErasure(customer_ref), uow)
        await uow.commit()
    await approve(core, erasure.ref)
    async with core.uow() as uow:
        await erase_customer(EraseCustomer(erasure.ref), uow)
        await uow.commit()


async def make_jobs_due(core: PrivacyCore, kind: str | None = None) -> None:
    """Make pending jobs (of ``kind``) due now: e.g. one put back after a failure,
    which would otherwise be tried again only after its backoff."""
    stmt = update(JobRow).where(JobRow.state == "pending")
    if kind is not None:
        stmt = stmt.where(JobRow.kind == kind)
    async with core.uow() as uow:
        await uow.session.execute(stmt.values(run_after=uow.now()))
        await uow.commit()
