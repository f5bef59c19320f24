"""B1/B2 harness: customers pressing consent toggles, our bot vs a bare bot.

Both bots talk over HTTP to the same in-process fake Telegram server
(tests/fake_telegram), in the same run. Each of C customers presses the same
toggle P times in a closed loop (press, wait for the redrawn keyboard, press the
new button), all customers at once: that is the sale-day load. Latency is from
pushing the update to the fake answering the bot's editMessageText (the moment
the customer sees the keyboard change). The bare bot makes the same Bot API calls
(answer the callback, edit the message, send a receipt) from an in-memory dict,
so the ratio is what the core costs: flow, policy, database, audit.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from bench.common import Context, Row, core_settings, fmt_rate, fmt_seconds, percentile
from bench.pg import scratch_database
from bot.outbound import OutboundConfig
from bot.runner import run_bot
from bot.settings import BotSettings
from core.app import PrivacyCore, open_core
from tests.fake_telegram import Call, FakeTelegram

__all__ = ["PURPOSES", "BareBot", "Measured", "TimedFake", "run_inbound"]

PURPOSES = ("follow_up", "marketing", "personalization", "analytics", "third_party_sharing")
_ROW = 1  # the keyboard row pressed (marketing), the same on both bots
_LATENCY_TARGET = 0.050
_RATIO_TARGET = 0.7
_WAIT = 35.0  # above the pool timeout (30 s), so a starved press shows as failed
CUSTOMERS = 200
QUICK_CUSTOMERS = 60  # --quick must finish in under two minutes


class TimedFake(FakeTelegram):
    """The fake server, plus a future per chat resolved when an edit there is answered."""

    def __init__(self) -> None:
        super().__init__()
        self.edits: dict[int, asyncio.Future[Call]] = {}

    def expect_edit(self, chat_id: int) -> asyncio.Future[Call]:
        future: asyncio.Future[Call] = asyncio.get_running_loop().create_future()
        self.edits[chat_id] = future
        return future

    def _touch(self, call: Call) -> None:
        super()._touch(call)
        if call.status is None or call.method != "editMessageText":
            return
        future = self.edits.pop(call.chat_id, None)
        if future is not None and not future.done():
            future.set_result(call)


class BareBot(Protocol):
    """A framework's own bot drawing the same buttons, without core."""

    async def start(self) -> None: ...
    async def stop(self) -> None: ...


@dataclass
class Measured:
    label: str
    presses: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    failures: int = 0

    @property
    def rate(self) -> float:
        return self.presses / self.seconds if self.seconds else 0.0

    def p(self, q: float) -> float:
        return percentile(self.latencies, q)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pressable(markup: dict[str, Any] | None) -> str | None:
    rows = (markup or {}).get("inline_keyboard") or []
    if len(rows) <= _ROW:
        return None
    return str(rows[_ROW][0].get("callback_data") or "")


def _keyboard(fake: FakeTelegram, chat_id: int) -> tuple[int, str] | None:
    for message in reversed(fake.messages(chat_id)):
        data = _pressable(message.get("reply_markup"))
        if data:
            return int(message["message_id"]), data
    return None


async def _customer(fake: TimedFake, uid: int, presses: int, out: Measured) -> None:
    found = _keyboard(fake, uid)
    if found is None:
        out.failures += presses
        return
    message_id, data = found
    for _ in range(presses):
        edited = fake.expect_edit(uid)
        start = time.monotonic()
        fake.push_callback(uid, data, message_id=message_id)
        try:
            call = await asyncio.wait_for(edited, _WAIT)
        except TimeoutError:
            out.failures += 1
            return
        out.latencies.append(time.monotonic() - start)
        out.presses += 1
        data = _pressable(call.params.get("reply_markup")) or data


async def _start_all(fake: TimedFake, users: range) -> None:
    """Every customer sends /start; wait until each has a keyboard to press."""
    for uid in users:
        fake.push_command(uid, "/start")
    deadline = time.monotonic() + 120
    while any(_keyboard(fake, uid) is None for uid in users):
        if time.monotonic() > deadline:
            raise TimeoutError("customers got no consent keyboard after /start")
        await asyncio.sleep(0.2)
    await fake.wait_idle(quiet=0.3, timeout=60)


@dataclass
class Phases:
    loaded: Measured  # all customers at once: throughput, latency with queueing
    idle: Measured  # one customer alone: the latency of a press itself


async def measure(fake: TimedFake, label: str, users: range, plan: tuple[int, int]) -> Phases:
    presses, alone = plan
    await _start_all(fake, users)
    loaded = Measured(label)
    start = time.perf_counter()
    await asyncio.gather(*(_customer(fake, uid, presses, loaded) for uid in users))
    loaded.seconds = time.perf_counter() - start
    await fake.wait_idle(quiet=0.2, timeout=60)  # receipts still in flight
    idle = Measured(label)
    start = time.perf_counter()
    await _customer(fake, users[0], alone, idle)
    idle.seconds = time.perf_counter() - start
    await fake.wait_idle(quiet=0.2, timeout=60)
    return Phases(loaded, idle)


async def _full_stack(
    fake: TimedFake, core: PrivacyCore, framework: str, users: range, plan: tuple[int, int]
) -> Phases:
    settings = BotSettings(
        core=core.settings,
        token=fake.token,
        api_base=fake.api_base,
        webhook_url=None,
        webhook_secret=None,
        http_host="127.0.0.1",
        http_port=free_port(),
        followup_delay=3600,
    )
    stop = asyncio.Event()
    # The bare bot sends unthrottled, so ours does too: this measures what the core
    # costs per press, not Telegram's 30 messages a second (B3 measures that).
    unthrottled = OutboundConfig(per_second=100_000, chat_interval=0)
    task = asyncio.create_task(
        run_bot(core, settings, framework=framework, stop=stop, outbound=unthrottled)
    )
    try:
        await fake.wait_for("getUpdates", timeout=30)
        return await measure(fake, f"{framework} + core", users, plan)
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


async def _bare(
    fake: TimedFake,
    make: Callable[[TimedFake], BareBot],
    label: str,
    users: range,
    plan: tuple[int, int],
) -> Phases:
    bot = make(fake)
    polls = len(fake.calls_to("getUpdates"))
    await bot.start()
    try:
        await fake.wait_for("getUpdates", count=polls + 1, timeout=30)
        return await measure(fake, label, users, plan)
    finally:
        await bot.stop()


async def run_inbound(
    ctx: Context, bench_id: str, framework: str, make_bare: Callable[[TimedFake], BareBot]
) -> list[Row]:
    rows = await _run_inbound(ctx, bench_id, framework, make_bare, None)
    if ctx.postgres and framework == "aiogram":  # the issue asks B1 on PostgreSQL too
        async with scratch_database(ctx.postgres, f"{bench_id}_{framework}") as url:
            rows += await _run_inbound(ctx, bench_id, framework, make_bare, url)
    return rows


async def _run_inbound(
    ctx: Context,
    bench_id: str,
    framework: str,
    make_bare: Callable[[TimedFake], BareBot],
    database_url: str | None,
) -> list[Row]:
    plan = (ctx.size(1, 10), ctx.size(20, 100))  # presses per customer loaded; alone
    rounds = ctx.size(1, 2)
    where = "postgresql" if database_url else "sqlite"
    data_dir = ctx.workdir / f"{bench_id.lower()}-{framework}-{where}"
    core = await open_core(core_settings(data_dir, database_url))
    bare: list[Phases] = []
    full: list[Phases] = []
    try:
        async with TimedFake() as fake:
            for n in range(rounds):
                base = 10_000 * (n + 1)
                label = f"bare {framework}"
                users = ctx.size(QUICK_CUSTOMERS, CUSTOMERS)
                bare.append(await _bare(fake, make_bare, label, _users(base, users), plan))
                full.append(
                    await _full_stack(fake, core, framework, _users(base + 5000, users), plan)
                )
    finally:
        await core.close()
    return _rows(bench_id, f"{framework}, {where}", _best(bare), _best(full))


def _users(first: int, count: int) -> range:
    return range(first + 1, first + 1 + count)


def _best(runs: list[Phases]) -> Phases:
    return max(runs, key=lambda m: m.loaded.rate)


def _rows(bench_id: str, framework: str, bare: Phases, full: Phases) -> list[Row]:
    ratio = full.loaded.rate / bare.loaded.rate if bare.loaded.rate else 0.0
    p99 = full.idle.p(99)
    failures = full.loaded.failures + full.idle.failures
    return [
        Row(
            bench=bench_id,
            what=f"{framework}: {full.loaded.presses} toggles, all customers pressing at once"
            + (f", {failures} FAILED" if failures else ""),
            ours=_figures(full),
            baseline="bare " + _figures(bare),
            ratio=round(ratio, 3),
            target=f">= {_RATIO_TARGET}, p99 < {_LATENCY_TARGET * 1000:.0f} ms",
            met=ratio >= _RATIO_TARGET and p99 < _LATENCY_TARGET and not failures,
            details={
                "full_loaded": _facts(full.loaded),
                "full_alone": _facts(full.idle),
                "bare_loaded": _facts(bare.loaded),
                "bare_alone": _facts(bare.idle),
            },
        )
    ]


def _figures(m: Phases) -> str:
    """Throughput under load; latency of a press alone (loaded latency is queueing)."""
    return (
        f"{fmt_rate(m.loaded.rate, 'upd')}; alone p50 {fmt_seconds(m.idle.p(50))} "
        f"p99 {fmt_seconds(m.idle.p(99))}"
    )


def _facts(m: Measured) -> dict[str, Any]:
    return {
        "presses": m.presses,
        "failures": m.failures,
        "seconds": round(m.seconds, 3),
        "updates_per_s": round(m.rate, 1),
        "p50_ms": round(m.p(50) * 1000, 1),
        "p99_ms": round(m.p(99) * 1000, 1),
    }
