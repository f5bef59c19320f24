"""Everything the bot sends on its own goes through here: rate-limited, retried safely.

Limits (Telegram's, configurable): at most ``per_second`` messages a second for
the bot and one message per ``chat_interval`` seconds per chat. Each permit is
held from the moment a request leaves until ``window`` seconds after its answer
came back, so however long the network takes, Telegram never sees more than
``per_second`` requests inside one second, nor two to a chat inside
``chat_interval`` (its clock counts arrivals, which lie between our two stamps).

Retries (``send``): 429 waits ``retry_after`` (pausing that chat and the whole
bot) and tries again; 5xx answers and connections that were never made are
retried with a short backoff, because the message certainly did not go out.
A request that went out without an answer (timeout, dropped connection) may
have been delivered: the caller chooses with ``on_unknown``. Follow-ups say
"give up" (at most once), notices say "retry" (at least once). 403 means the
customer blocked the bot: the caller marks them unreachable and stops.

With several bot processes the limits are per process: give each
``PRIVACY_OUTBOUND_PER_SECOND`` = 30 / processes; ``retry_after`` catches the rest.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Literal, Protocol

from bot.channels.telegram import (
    Blocked,
    DeliveryUnknown,
    NotDelivered,
    Rejected,
    RetryAfter,
)
from bot.conversation.events import Reply
from bot.http.metrics import Metrics
from core.errors import ConfigurationError
from core.services.outreach.followups import Delivery

__all__ = ["Outbound", "OutboundConfig", "OutboundLimiter", "OutboundSender"]

log = logging.getLogger("bot.background.outbound")


class OutboundSender(Protocol):
    """What both adapters' senders offer for proactive messages (see bot/channels)."""

    async def send_out(self, chat_id: int, reply: Reply) -> int: ...


@dataclass(frozen=True)
class OutboundConfig:
    per_second: int = 30
    chat_interval: float = 1.0
    window: float = 1.0
    max_attempts: int = 5  # 5xx / never-connected tries before the job is retried later
    max_wait: float = 60.0  # total retry_after waits before the job is retried later

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> OutboundConfig:
        env = os.environ if env is None else env
        try:
            per_second = int(env.get("PRIVACY_OUTBOUND_PER_SECOND") or 30)
            interval = float(env.get("PRIVACY_OUTBOUND_CHAT_INTERVAL") or 1.0)
        except ValueError:
            raise ConfigurationError(
                "PRIVACY_OUTBOUND_PER_SECOND / _CHAT_INTERVAL must be numbers"
            ) from None
        if per_second < 1 or interval < 0:
            raise ConfigurationError("outbound limits must be positive")
        return cls(per_second=per_second, chat_interval=interval)


class OutboundLimiter:
    """Permits for sending: global (sliding, by answer time) and per chat."""

    def __init__(self, config: OutboundConfig) -> None:
        self.config = config
        self._global = asyncio.Semaphore(config.per_second)
        self._paused_until = 0.0
        self._chats: dict[int, tuple[asyncio.Lock, list[float]]] = {}

    def pause_all(self, seconds: float) -> None:
        self._paused_until = max(self._paused_until, time.monotonic() + seconds)

    def pause_chat(self, chat_id: int, seconds: float) -> None:
        _, next_at = self._chat(chat_id)
        next_at[0] = max(next_at[0], time.monotonic() + seconds)

    @asynccontextmanager
    async def slot(self, chat_id: int) -> AsyncIterator[None]:
        lock, next_at = self._chat(chat_id)
        async with lock:  # one request per chat in flight, in order
            await _sleep_until(next_at[0])
            await self._global.acquire()
            try:
                await _sleep_until(self._paused_until)
                yield
            finally:
                # Stamped after the answer: the next send to this chat, and the
                # release of this global permit, count from there.
                next_at[0] = max(next_at[0], time.monotonic() + self.config.chat_interval)
                loop = asyncio.get_running_loop()
                loop.call_later(self.config.window, self._global.release)
        self._forget_idle()

    def _chat(self, chat_id: int) -> tuple[asyncio.Lock, list[float]]:
        entry = self._chats.get(chat_id)
        if entry is None:
            entry = self._chats[chat_id] = (asyncio.Lock(), [0.0])
        return entry

    def _forget_idle(self) -> None:
        if len(self._chats) < 10_000:
            return
        now = time.monotonic()
        for chat_id, (lock, next_at) in list(self._chats.items()):
            if not lock.locked() and next_at[0] < now:
                del self._chats[chat_id]


async def _sleep_until(deadline: float) -> None:
    # A pause may be extended while we sleep (another 429), hence the re-check.
    while (wait := deadline - time.monotonic()) > 0:  # noqa: ASYNC110
        await asyncio.sleep(wait)


OnUnknown = Literal["give_up", "retry"]


class Outbound:
    """Send one proactive message to one chat; answers a ``Delivery``, never raises for
    Telegram's answers (only for bugs)."""

    def __init__(
        self,
        sender: OutboundSender,
        config: OutboundConfig | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.sender = sender
        self.limiter = OutboundLimiter(config or OutboundConfig())
        self.metrics = metrics or Metrics()

    @property
    def config(self) -> OutboundConfig:
        return self.limiter.config

    async def send(self, chat_id: int, reply: Reply, *, on_unknown: OnUnknown) -> Delivery:
        failures, waited = 0, 0.0
        while failures < self.config.max_attempts and waited <= self.config.max_wait:
            try:
                async with self.limiter.slot(chat_id):
                    await self.sender.send_out(chat_id, reply)
            except RetryAfter as error:
                self._count("retry_after")
                self.limiter.pause_chat(chat_id, error.seconds)
                self.limiter.pause_all(error.seconds)
                waited += error.seconds
                continue
            except Blocked:
                self._count("blocked")
                return Delivery.BLOCKED
            except Rejected as error:
                log.warning("message rejected by Telegram: %s", error)
                self._count("rejected")
                return Delivery.REJECTED
            except NotDelivered as error:
                self._count("not_delivered")
                failures += 1
                waited += await _backoff(failures)
                log.info("send failed, retrying: %s", error)
                continue
            except DeliveryUnknown as error:
                self._count("unknown")
                if on_unknown == "give_up":
                    log.warning("delivery unknown, not resending: %s", error)
                    return Delivery.UNKNOWN
                failures += 1
                waited += await _backoff(failures)
                continue
            self._count("sent")
            return Delivery.SENT
        return Delivery.RETRY

    def _count(self, result: str) -> None:
        self.metrics.inc("privacy_outbound_total", "Proactive messages by result", result=result)


async def _backoff(failures: int) -> float:
    seconds = min(5.0, 0.25 * float(2 ** (failures - 1)))
    await asyncio.sleep(seconds)
    return seconds
