"""B9 incident notices: tell N affected customers of a breach vs the fake's 30 msg/s.

Set-up through the services: N customers with an email address (contact data) and
a Telegram chat; an incident about contact data, assessed, then notified (one
notice row and one job per customer, in the entry point's transaction, page by
page). The real ``Worker`` and outbound path send the notices through aiogram's
sender to the fake Telegram server, which enforces 30 msg/s and 1 msg/s per chat.

Figures: how fully the limit is used (the ideal span for N messages at 30/s over
the measured first-to-last span, as B3), 429 answers, customers told twice; and
memory: the Python heap's peak (tracemalloc) while ``notify`` fans the incident out
to N customers in one transaction, at 1,000 customers and at N (flat: it does not
grow with N). The sending itself holds one notice at a time per worker slot; the
fake server keeps every message it received, so the process heap while sending
measures the fake, not the bot, and is not reported.
"""

from __future__ import annotations

import asyncio
import math
import time
import tracemalloc
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from bench.b3_outbound import delivered
from bench.common import Context, Row, core_settings, fmt_seconds
from core.app import PrivacyCore, open_core
from core.domain.customer import IdentityKind
from core.services import RegisterCustomer, register_customer
from core.services.incidents import (
    INCIDENT_NOTICE,
    AssessIncident,
    NotifyIncident,
    OpenIncident,
    assess_incident,
    notify_incident,
    open_incident,
)
from tests.fake_telegram import FakeTelegram
from tests.followup_support import freeze

__all__ = ["run"]

LIMIT = 30
_TARGET = 0.95
_FIRST_UID = 700_000


@dataclass
class Outcome:
    count: int
    delivered: int
    rate_limited: int
    duplicates: int
    span: float
    peak_mib: float  # tracemalloc peak while notify fans the incident out

    @property
    def ideal_span(self) -> float:
        return float(math.ceil(self.count / LIMIT) - 1)

    @property
    def ratio(self) -> float:
        return self.ideal_span / self.span if self.span > 0 else 0.0


async def _customers(core: PrivacyCore, count: int, batch: int = 100) -> None:
    for first in range(0, count, batch):
        async with core.uow() as uow:
            for n in range(first, min(first + batch, count)):
                created, _ = await register_customer(
                    RegisterCustomer(IdentityKind.TELEGRAM, str(_FIRST_UID + n)), uow
                )
                customer = await uow.customers.get(created.ref, lock=True)
                customer.email = f"c{n}@example.com"
                await uow.customers.save(customer)
            await uow.commit()


async def _notify(core: PrivacyCore) -> None:
    async with core.uow() as uow:
        aware = uow.now() - timedelta(hours=1)
        opened = await open_incident(OpenIncident(None, aware, ("contact",), "bench"), uow)
        await assess_incident(AssessIncident(None, opened.ref, "high", ("contained",)), uow)
        await notify_incident(NotifyIncident(None, opened.ref), uow)
        await uow.commit()


async def _measure(core: PrivacyCore, count: int) -> Outcome:
    from bot.background.outreach import send_incident_notice
    from bot.background.worker import Worker
    from bot.outbound import Outbound, OutboundConfig, budget_for
    from tests.outbound_support import real_sender

    freeze(core)  # outside quiet hours
    await _customers(core, count)
    tracemalloc.start()
    await _notify(core)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    async with FakeTelegram() as fake:
        fake.enforce_rate_limits(LIMIT, 1)
        async with real_sender("aiogram", fake) as sender:
            config = OutboundConfig()
            outbound = Outbound(sender, config, budget=budget_for(core, config))
            worker = Worker(core, outbound, handlers={INCIDENT_NOTICE: send_incident_notice})
            worker.start()
            deadline = time.monotonic() + count / LIMIT * 3 + 60
            try:
                while delivered(fake) < count and time.monotonic() < deadline:
                    await asyncio.sleep(0.2)
            finally:
                await worker.stop(drain=10)
        ok = [c for c in fake.calls_to("sendMessage") if c.ok]
        arrivals = sorted(c.at for c in ok)
        per_chat = Counter(c.chat_id for c in ok)
        rate_limited = fake.rate_limited_count
    return Outcome(
        count=count,
        delivered=len(per_chat),
        rate_limited=rate_limited,
        duplicates=sum(1 for n in per_chat.values() if n > 1),
        span=arrivals[-1] - arrivals[0] if len(arrivals) > 1 else 0.0,
        peak_mib=peak / 2**20,
    )


async def _on(ctx: Context, name: str, count: int) -> Outcome:
    core = await open_core(core_settings(ctx.workdir / f"b9-{name}"))
    try:
        return await _measure(core, count)
    finally:
        await core.close()


async def run(ctx: Context) -> list[Row]:
    count = ctx.size(300, 10_000)
    small = await _on(ctx, "small", min(1000, count))
    large = small if count <= 1000 else await _on(ctx, "large", count)
    return [_row(small, large)]


def _row(small: Outcome, o: Outcome) -> Row:
    all_once = o.delivered == o.count and o.duplicates == 0
    growth = o.peak_mib / small.peak_mib if small.peak_mib else 0.0
    details: dict[str, Any] = {
        "customers": o.count,
        "delivered_chats": o.delivered,
        "chats_messaged_twice": o.duplicates,
        "http_429": o.rate_limited,
        "span_s": round(o.span, 3),
        "ideal_span_s": o.ideal_span,
        "peak_heap_mib": round(o.peak_mib, 1),
        "peak_heap_mib_at_1000": round(small.peak_mib, 1),
        "peak_growth": round(growth, 2),
    }
    achieved = o.ideal_span / o.span * LIMIT if o.span else 0.0
    return Row(
        bench="B9",
        what=f"{o.count:,} breach notices, SQLite",
        ours=(
            f"{achieved:.1f} msg/s ({fmt_seconds(o.span)} span), {o.rate_limited} x 429, "
            f"fan-out heap peak {o.peak_mib:.1f} MiB ({small.peak_mib:.1f} MiB at {small.count:,})"
        ),
        baseline=f"limit {LIMIT} msg/s ({o.ideal_span:.0f} s span)",
        ratio=round(o.ratio, 3),
        target=f">= {_TARGET} of limit, 0 x 429, each once, memory flat",
        met=o.ratio >= _TARGET and o.rate_limited == 0 and all_once and growth <= 1.5,
        details=details,
    )
