"""B3 outbound: N follow-ups due at once vs the fake's 30 msg/s and 1/s per chat.

Set-up goes through the services, as in production: N customers who saw the
notice and agreed to follow-ups, each with one purchase recorded with no delay,
so N ``followup`` jobs are due at the same moment. Then the real ``Worker`` with
the real outbound path (bot/outbound/: 30/s, 1/s per chat, the defaults; its
budget in memory on SQLite, in the database on PostgreSQL, as ``privacy-bot
run`` picks) sends them through aiogram's sender to the fake Telegram server,
which enforces 30 msg/s and 1 msg/s per chat and answers 429 + retry_after above
them.

The figure: how fully the limit is used. Telegram counts arrivals in sliding
one-second windows, so N messages at the limit need at least
``(ceil(N / 30) - 1)`` seconds between the first and the last arrival; the
ratio is that ideal span over the measured one (1.0 = the limit, used fully).
Also reported: 429 answers, messages delivered, chats messaged twice.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from bench.common import Context, Row, core_settings, fmt_seconds
from bench.pg import scratch_database
from core.app import PrivacyCore, open_core
from core.domain.customer import IdentityKind
from core.domain.purchase import PurchaseItem
from core.services import (
    DecideConsent,
    MarkNoticeSeen,
    RegisterCustomer,
    decide_consent,
    mark_notice_seen,
    register_customer,
)
from core.services.outreach.purchases import PurchaseStatus, RecordPurchase, record_purchase
from tests.fake_telegram import FakeTelegram
from tests.followup_support import NOON_HK, freeze

__all__ = ["LIMIT", "delivered", "due_followups", "run"]

LIMIT = 30  # messages a second, Telegram's (and the fake's) global limit
_TARGET = 0.95
_FIRST_UID = 500_000


@dataclass
class Outcome:
    count: int
    delivered: int
    rate_limited: int
    duplicates: int
    span: float  # first to last successful arrival at the fake
    wall: float  # worker start to last successful arrival
    setup: float
    jobs_done: int

    @property
    def ideal_span(self) -> float:
        return float(math.ceil(self.count / LIMIT) - 1)

    @property
    def ratio(self) -> float:
        return self.ideal_span / self.span if self.span > 0 else 0.0


async def due_followups(
    core: PrivacyCore,
    count: int,
    purchased_at: datetime = NOON_HK,
    first_uid: int = _FIRST_UID,
    batch: int = 50,
) -> None:
    """``count`` consenting customers, each with one purchase whose follow-up is due now.

    The same services as ``tests.followup_support.customer`` and the purchase
    callback; ``batch`` customers share a unit of work, committed once.
    """
    item = (PurchaseItem("TEA-1", "Jasmine tea", 2, Decimal("64.95")),)
    for first in range(0, count, batch):
        async with core.uow() as uow:
            for n in range(first, min(first + batch, count)):
                uid = first_uid + n
                created, _ = await register_customer(
                    RegisterCustomer(IdentityKind.TELEGRAM, str(uid)), uow
                )
                await mark_notice_seen(MarkNoticeSeen(created.ref), uow)
                await decide_consent(DecideConsent(created.ref, "follow_up", True), uow)
                status = await record_purchase(_purchase(uid, item, purchased_at), uow)
                if status is not PurchaseStatus.SCHEDULED:
                    raise RuntimeError(f"follow-up not scheduled: {status}")
            await uow.commit()


def _purchase(uid: int, items: tuple[PurchaseItem, ...], purchased_at: datetime) -> RecordPurchase:
    return RecordPurchase(
        order_id=f"B3-{uid}",
        reference=IdentityKind.TELEGRAM,
        reference_value=str(uid),
        purchased_at=purchased_at,
        total=Decimal("129.90"),
        currency="HKD",
        items=items,
        followup_delay=timedelta(0),
    )


async def _jobs_done(core: PrivacyCore) -> int:
    from sqlalchemy import func, select

    from core.storage.tables import JobRow

    async with core.uow() as uow:
        query = select(func.count()).where(JobRow.kind == "followup", JobRow.state == "done")
        return int(await uow.session.scalar(query) or 0)


async def _send_all(core: PrivacyCore, fake: FakeTelegram, count: int) -> tuple[float, float]:
    """Run the worker until every follow-up arrived; (worker start, deadline hit?)."""
    from bot.background.outreach import send_followup
    from bot.background.worker import Worker
    from bot.outbound import Outbound, OutboundConfig, budget_for
    from core.services.outreach.followups import FOLLOWUP
    from tests.outbound_support import real_sender

    async with real_sender("aiogram", fake) as sender:
        config = OutboundConfig()
        outbound = Outbound(sender, config, budget=budget_for(core, config))
        worker = Worker(core, outbound, handlers={FOLLOWUP: send_followup}, poll=0.2)
        started = time.monotonic()
        worker.start()
        deadline = started + count / LIMIT * 3 + 60
        try:
            while delivered(fake) < count and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            while await _jobs_done(core) < count and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
        finally:
            await worker.stop(drain=10)
    return started, deadline


def delivered(fake: FakeTelegram) -> int:
    return sum(1 for c in fake.calls_to("sendMessage") if c.ok)


async def _measure(core: PrivacyCore, count: int) -> Outcome:
    freeze(core)  # 11:00 in Hong Kong: outside quiet hours, every follow-up due now
    setup_start = time.perf_counter()
    await due_followups(core, count)
    setup = time.perf_counter() - setup_start
    async with FakeTelegram() as fake:
        fake.enforce_rate_limits(LIMIT, 1)
        started, _ = await _send_all(core, fake, count)
        ok = [c for c in fake.calls_to("sendMessage") if c.ok]
        arrivals = sorted(c.at for c in ok)
        per_chat = Counter(c.chat_id for c in ok)
        rate_limited = fake.rate_limited_count
    span = arrivals[-1] - arrivals[0] if len(arrivals) > 1 else 0.0
    return Outcome(
        count=count,
        delivered=len(per_chat),
        rate_limited=rate_limited,
        duplicates=sum(1 for n in per_chat.values() if n > 1),
        span=span,
        wall=(arrivals[-1] - started) if arrivals else 0.0,
        setup=setup,
        jobs_done=await _jobs_done(core),
    )


async def _on(ctx: Context, name: str, url: str | None, count: int) -> Outcome:
    core = await open_core(core_settings(ctx.workdir / f"b3-{name}", url))
    try:
        return await _measure(core, count)
    finally:
        await core.close()


async def run(ctx: Context) -> list[Row]:
    count = ctx.size(150, 1000)
    rows = [_row("SQLite", await _on(ctx, "sqlite", None, count))]
    if ctx.postgres:
        async with scratch_database(ctx.postgres, "b3") as url:
            rows.append(_row("PostgreSQL", await _on(ctx, "pg", url, count)))
    return rows


def _row(db: str, o: Outcome) -> Row:
    all_once = o.delivered == o.count and o.duplicates == 0 and o.jobs_done == o.count
    what = f"{o.count:,} follow-ups due at once, {db}"
    if not all_once:
        what += f" ({o.delivered} delivered, {o.duplicates} twice)"
    achieved = o.ideal_span / o.span * LIMIT if o.span else 0.0
    details: dict[str, Any] = {
        "followups": o.count,
        "delivered_chats": o.delivered,
        "chats_messaged_twice": o.duplicates,
        "jobs_done": o.jobs_done,
        "http_429": o.rate_limited,
        "span_s": round(o.span, 3),
        "ideal_span_s": o.ideal_span,
        "worker_start_to_last_s": round(o.wall, 3),
        "end_to_end_msgs_per_s": round(o.count / o.wall, 2) if o.wall else 0.0,
        "setup_s": round(o.setup, 2),
    }
    return Row(
        bench="B3",
        what=what,
        ours=f"{achieved:.1f} msg/s ({fmt_seconds(o.span)} span), {o.rate_limited} x 429",
        baseline=f"limit {LIMIT} msg/s ({o.ideal_span:.0f} s span)",
        ratio=round(o.ratio, 3),
        target=f">= {_TARGET} of limit, 0 x 429",
        met=o.ratio >= _TARGET and o.rate_limited == 0 and all_once,
        details=details,
    )
