"""Shared set-up for the follow-up tests: customers with consent, signed callbacks."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from bot.http.app import build_app
from bot.http.metrics import Metrics
from bot.http.purchase import PurchaseHook, sign
from core.app import PrivacyCore
from core.clock import FixedClock
from core.domain.customer import IdentityKind
from core.services import (
    DecideConsent,
    MarkNoticeSeen,
    RegisterCustomer,
    decide_consent,
    mark_notice_seen,
    register_customer,
)
from core.storage.tables import JobRow

SECRET = "test-webhook-secret"
# 11:00 in Hong Kong (the default policy's zone): outside quiet hours.
NOON_HK = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)


def freeze(core: PrivacyCore, at: datetime = NOON_HK) -> FixedClock:
    clock = FixedClock(at)
    core.clock = clock
    return clock


async def customer(core: PrivacyCore, telegram_id: int, *, follow_up: bool = True) -> str:
    """A customer who saw the notice and (by default) agreed to follow-ups."""
    async with core.uow() as uow:
        created, _ = await register_customer(
            RegisterCustomer(IdentityKind.TELEGRAM, str(telegram_id)), uow
        )
    async with core.uow() as uow:
        await mark_notice_seen(MarkNoticeSeen(created.ref), uow)
    if follow_up:
        async with core.uow() as uow:
            await decide_consent(DecideConsent(created.ref, "follow_up", True), uow)
    return created.ref


def purchase_body(order_id: str, telegram_id: int | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "order_id": order_id,
        "purchased_at": "2026-12-01T10:30:00+08:00",
        "total": "129.90",
        "currency": "HKD",
        "items": [{"sku": "TEA-1", "name": "Jasmine tea", "quantity": 2, "price": "64.95"}],
    }
    if telegram_id is not None:
        body["telegram_id"] = telegram_id
    body.update(extra)
    return body


def signed(
    core: PrivacyCore, body: dict[str, Any] | bytes, skew: int = 0
) -> tuple[bytes, dict[str, str]]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    t = int(core.clock.now().timestamp()) + skew
    return raw, {"X-Privacy-Signature": sign(SECRET, raw, t), "Content-Type": "application/json"}


@asynccontextmanager
async def hook_client(
    core: PrivacyCore, *, secret: str | None = SECRET, delay: timedelta = timedelta(hours=1)
) -> AsyncIterator[TestClient[Any, Any]]:
    hook = PurchaseHook(core, secret, delay, Metrics())
    client = TestClient(TestServer(build_app(Metrics(), purchase=hook)))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()


async def post(
    client: TestClient[Any, Any], core: PrivacyCore, body: Any, skew: int = 0
) -> tuple[int, Any]:
    raw, headers = signed(core, body, skew)
    async with client.post("/hooks/purchase", data=raw, headers=headers) as response:
        return response.status, await response.json()


async def jobs(core: PrivacyCore, kind: str = "followup") -> list[JobRow]:
    async with core.uow() as uow:
        rows = list(await uow.session.scalars(select(JobRow).where(JobRow.kind == kind)))
        uow.session.expunge_all()  # readable after the unit of work rolls back
        return rows


async def count(core: PrivacyCore, table: Any) -> int:
    async with core.uow() as uow:
        return int(await uow.session.scalar(select(func.count()).select_from(table)) or 0)
