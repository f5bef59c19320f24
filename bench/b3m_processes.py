"""B3m and B3r: three ``privacy-bot run`` processes on one PostgreSQL, one bot's limits.

Three real processes (python-telegram-bot, webhook mode, as a chain of shops
runs them behind a load balancer) share one database and one bot token. The
fake Telegram server enforces the bot's 30 msg/s and 1 msg/s per chat (with
bursts of three, which Telegram allows in a chat a customer is writing in) and
answers 429 above them. 1,000 follow-ups fall due at once (one commit).

- B3m: how fully the processes use the limit together: the ideal span
  ``ceil(N / 30) - 1`` seconds over the measured first-to-last arrival, with
  0 x 429 and each follow-up once.
- B3r: during that drain, five customers already in a conversation (their
  /start, whose answer is three messages, came before) chat on: /privacy every
  3.5 s each, to the processes in turn: the time from sending their update to the webhook to
  the reply's arrival at Telegram; p99 against 2 s.

Runs only with ``--postgres`` (a SQLite shop runs one process).
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from bench.b3_outbound import LIMIT, due_followups
from bench.common import Context, Row, fmt_seconds, percentile
from bench.pg import scratch_database
from bot.channels.telegram import webhook_token
from bot.http.app import WEBHOOK_PATH
from core.app import open_core
from core.settings import Settings
from tests.fake_telegram import FakeTelegram
from tests.followup_support import SECRET
from tests.process_support import BotProcess, bot_env, shop_policy

__all__ = ["run"]

_PROCESSES = 3
_FIRST_UID = 700_000
_CHATTERS = tuple(range(990_001, 990_006))
# A customer reads the answer before writing again; faster than Telegram's one
# message a second in a chat, the replies themselves would be refused (429).
_CHAT_EVERY = 3.5
_TARGET_SHARE = 0.9
_TARGET_P99 = 2.0


@dataclass
class Drain:
    count: int
    arrivals: list[float]
    per_chat: Counter[int]
    rate_limited: int
    latencies: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)  # each bot process's CPU seconds in the drain
    wall: float = 0.0

    @property
    def span(self) -> float:
        return self.arrivals[-1] - self.arrivals[0] if len(self.arrivals) > 1 else 0.0

    @property
    def ratio(self) -> float:
        ideal = float(math.ceil(self.count / LIMIT) - 1)
        return ideal / self.span if self.span else 0.0

    @property
    def once(self) -> bool:
        return len(self.per_chat) == self.count and max(self.per_chat.values()) == 1


async def _post(http: aiohttp.ClientSession, bot: BotProcess, update: dict[str, Any]) -> None:
    headers = {"X-Telegram-Bot-Api-Secret-Token": webhook_token(SECRET)}
    async with http.post(bot.base + WEBHOOK_PATH, data=json.dumps(update), headers=headers) as r:
        await r.read()


async def _start_chatters(fake: FakeTelegram, bots: list[BotProcess]) -> None:
    """Their first turn (the notice, three messages), answered before the drain."""
    async with aiohttp.ClientSession() as http:
        for uid in _CHATTERS:
            asked = time.monotonic()
            await _post(http, bots[0], _update(uid * 1000, uid, "/start"))
            await _reply_after(fake, uid, asked)
    await fake.wait_idle(quiet=3.0, timeout=30)  # past the chats' three-second windows


def _update(n: int, uid: int, text: str) -> dict[str, Any]:
    return {
        "update_id": n,
        "message": {
            "message_id": n,
            "date": int(time.time()),
            "chat": {"id": uid, "type": "private"},
            "from": {"id": uid, "is_bot": False, "first_name": "C", "language_code": "en"},
            "text": text,
            "entities": [{"type": "bot_command", "offset": 0, "length": len(text)}],
        },
    }


async def _chat(
    fake: FakeTelegram, bots: list[BotProcess], uid: int, offset: float, stop: asyncio.Event
) -> list[float]:
    """One customer writing every _CHAT_EVERY s until ``stop``; each update's reply time."""
    latencies: list[float] = []
    await asyncio.sleep(offset)
    async with aiohttp.ClientSession() as http:
        n = 0
        while not stop.is_set():
            n += 1
            asked = time.monotonic()
            await _post(http, bots[n % len(bots)], _update(uid * 1000 + n, uid, "/privacy"))
            replied = await _reply_after(fake, uid, asked)
            if replied is not None:
                latencies.append(replied - asked)
            await asyncio.sleep(max(0.0, asked + _CHAT_EVERY - time.monotonic()))
    return latencies


async def _reply_after(fake: FakeTelegram, uid: int, asked: float) -> float | None:
    deadline = asked + 30
    while time.monotonic() < deadline:
        for call in fake.calls_to("sendMessage"):
            if call.chat_id == uid and call.ok and call.at >= asked:
                return call.at
        await asyncio.sleep(0.01)
    return None


def _cpu_seconds(bot: BotProcess) -> float:
    """User + system CPU of a running bot process so far (Linux /proc)."""
    assert bot.process is not None
    fields = Path(f"/proc/{bot.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _followups_delivered(fake: FakeTelegram) -> list[Any]:
    return [
        c
        for c in fake.calls_to("sendMessage")
        if c.ok and isinstance(c.chat_id, int) and c.chat_id >= _FIRST_UID
        and c.chat_id < _CHATTERS[0]
    ]  # fmt: skip


async def _measure(ctx: Context, url: str, count: int) -> Drain:
    workdir = ctx.workdir / "b3m"
    workdir.mkdir(parents=True, exist_ok=True)
    settings = Settings(
        data_dir=workdir / "data",
        database_url=url,
        master_key=None,
        policy_file=shop_policy(workdir),  # no quiet hours: the bench runs at any hour
    )
    core = await open_core(settings)
    async with FakeTelegram() as fake:
        fake.enforce_rate_limits(LIMIT, 1, chat_burst=3)
        env = {**bot_env(fake, settings), "PRIVACY_WEBHOOK_URL": "https://shop.example/bot"}
        bots = [BotProcess(env, workdir, name=f"p{n}") for n in range(_PROCESSES)]
        stop = asyncio.Event()
        try:
            await asyncio.gather(*(b.start() for b in bots))
            await _start_chatters(fake, bots)
            await due_followups(core, count, datetime.now(UTC), _FIRST_UID, batch=count)
            cpu_before, started = [_cpu_seconds(b) for b in bots], time.monotonic()
            chatters = [
                asyncio.create_task(_chat(fake, bots, uid, n * _CHAT_EVERY / 5, stop))
                for n, uid in enumerate(_CHATTERS)
            ]
            deadline = time.monotonic() + count / LIMIT * 3 + 60
            while len(_followups_delivered(fake)) < count and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            cpu = [_cpu_seconds(b) - c for b, c in zip(bots, cpu_before, strict=True)]
            wall = time.monotonic() - started
            stop.set()
            latencies = [x for found in await asyncio.gather(*chatters) for x in found]
        finally:
            stop.set()
            await asyncio.gather(*(b.stop() for b in bots))
            await core.close()
        ok = _followups_delivered(fake)
        return Drain(
            count=count,
            arrivals=sorted(c.at for c in ok),
            per_chat=Counter(c.chat_id for c in ok),
            rate_limited=fake.rate_limited_count,
            latencies=latencies,
            cpu=cpu,
            wall=wall,
        )


async def run(ctx: Context) -> list[Row]:
    if not ctx.postgres:
        return [Row("B3m", "three processes, one PostgreSQL", "n/a (needs --postgres)")]
    count = ctx.size(300, 1000)
    async with scratch_database(ctx.postgres, "b3m") as url:
        drain = await _measure(ctx, url, count)
    return [_share_row(drain), _reply_row(drain)]


def _share_row(d: Drain) -> Row:
    achieved = d.ratio * LIMIT
    return Row(
        bench="B3m",
        what=f"{d.count:,} follow-ups due, {_PROCESSES} processes, one PostgreSQL"
        + ("" if d.once else f" ({len(d.per_chat)} delivered, not each once)"),
        ours=f"{achieved:.1f} msg/s together ({fmt_seconds(d.span)} span), {d.rate_limited} x 429",
        baseline=f"limit {LIMIT} msg/s",
        ratio=round(d.ratio, 3),
        target=f">= {_TARGET_SHARE} of limit, 0 x 429, each once",
        met=d.ratio >= _TARGET_SHARE and d.rate_limited == 0 and d.once,
        details={
            "followups": d.count,
            "delivered_chats": len(d.per_chat),
            "http_429": d.rate_limited,
            "span_s": round(d.span, 3),
            # Where the time goes: the bot processes' CPU during the drain, of 2 cores
            # shared with PostgreSQL and this process (the fake server, the chatters).
            "bot_cpu_s": [round(c, 1) for c in d.cpu],
            "bot_cpu_ms_per_followup": round(sum(d.cpu) / d.count * 1000, 1),
            "bot_cores_busy": round(sum(d.cpu) / d.wall, 2) if d.wall else None,
        },
    )


def _reply_row(d: Drain) -> Row:
    p99 = percentile(d.latencies, 99) if d.latencies else float("inf")
    p50 = percentile(d.latencies, 50) if d.latencies else float("inf")
    return Row(
        bench="B3r",
        what=f"{len(_CHATTERS)} customers chatting during that drain ({len(d.latencies)} replies)",
        ours=f"p99 {fmt_seconds(p99)}, p50 {fmt_seconds(p50)} update to reply",
        baseline=f"target {fmt_seconds(_TARGET_P99)}",
        ratio=round(p99 / _TARGET_P99, 3) if d.latencies else None,
        target=f"p99 < {_TARGET_P99:g} s",
        met=bool(d.latencies) and p99 < _TARGET_P99,
        details={"replies": len(d.latencies), "p99_s": round(p99, 3), "p50_s": round(p50, 3)},
    )
