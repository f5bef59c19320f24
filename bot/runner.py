"""``privacy-bot run``: the Telegram bot and the HTTP endpoints in one process."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import logging
import signal
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any, Protocol

from aiohttp import web

# Imported for their job handlers (authorized agents; data rights).
import bot.background.agent_jobs
import bot.background.rights_jobs  # noqa: F401
from bot.background.outreach import Background, start_background
from bot.background.staff_tasks import run_desk_duties
from bot.channels.telegram import webhook_token
from bot.channels.whatsapp import WhatsAppHook, WhatsAppSender
from bot.conversation import FlowEngine
from bot.http.app import WEBHOOK_PATH, build_app
from bot.http.drp import DrpHook
from bot.http.exports import ExportLinks
from bot.http.metrics import Metrics
from bot.http.purchase import PurchaseHook
from bot.outbound import (
    MakeOutbound,
    Outbound,
    OutboundConfig,
    Rejected,
    SendError,
    Unconfigured,
    budget_for,
)
from bot.settings import BotSettings
from core.app import PrivacyCore
from core.errors import ConfigurationError
from core.services.agents.envelope import Directory

__all__ = ["Adapter", "make_adapter", "run_bot", "settle_heap"]

log = logging.getLogger("bot.run")
_START_BACKOFF_CAP = 30.0


class Adapter(Protocol):
    async def register_commands(self) -> None: ...
    async def start_polling(self) -> None: ...
    async def stop_polling(self) -> None: ...
    async def set_webhook(self, url: str, secret_token: str) -> None: ...
    async def feed_webhook(self, payload: dict[str, Any]) -> None: ...
    async def close(self) -> None: ...
    async def set_chat_commands(self, chat_id: int, commands: list[tuple[str, str]]) -> None: ...
    async def delete_chat_commands(self, chat_id: int) -> None: ...
    @property
    def outbound(self) -> Outbound: ...


def make_adapter(
    framework: str,
    engine: FlowEngine,
    token: str,
    api_base: str,
    make_outbound: MakeOutbound = Outbound,
) -> Adapter:
    """The framework is imported here only: aiogram alone takes seconds to load."""
    if framework == "aiogram":
        from bot.channels.aiogram_bot import AiogramAdapter

        return AiogramAdapter(engine, token, api_base, make_outbound)
    if framework == "ptb":
        from bot.channels.ptb_bot import PtbAdapter

        return PtbAdapter(engine, token, api_base, make_outbound)
    raise ConfigurationError(f"unknown framework {framework!r} (aiogram or ptb)")


def settle_heap() -> None:
    """Take what start-up loaded (modules, mappers, catalogs) out of the collector's way.

    A full garbage collection walks every live object: in a started bot that pause
    was 30 ms, and it fell inside whatever request was running (an erasure's key
    shredding, a customer's tap). Frozen, those objects are skipped. Once per
    process, after start-up; the garbage start-up made is collected first.
    """
    gc.collect()
    gc.freeze()


async def run_bot(
    core: PrivacyCore,
    settings: BotSettings,
    *,
    framework: str = "aiogram",
    stop: asyncio.Event | None = None,
    settle: bool = False,
    outbound: OutboundConfig | None = None,
) -> None:
    """Serve every configured messaging app (Telegram, WhatsApp, or both) until ``stop``
    is set (or SIGINT/SIGTERM); ``settle``: see settle_heap; ``outbound``: the sending
    limits (default: from the environment)."""
    stop = stop or _stop_on_signals()
    engine = FlowEngine(core)
    metrics = Metrics()
    config = outbound or OutboundConfig.from_env()
    if not settings.token and settings.whatsapp is None:
        raise ConfigurationError(
            "no messaging app is configured: set TELEGRAM_BOT_TOKEN, the WHATSAPP_* settings, "
            "or both (try `privacy-bot chat` to talk in the terminal)"
        )
    telegram = _TelegramSide.make(core, settings, engine, framework, config, metrics)
    whatsapp = _whatsapp(settings, engine, config, metrics)
    if settle:
        settle_heap()
    hook, drp = _hooks(core, settings, metrics)
    app = build_app(
        metrics,
        feed_update=telegram.adapter.feed_webhook if telegram and telegram.token else None,
        webhook_token=telegram.token if telegram else None,
        purchase=hook,
        drp=drp,
        whatsapp=whatsapp,
        exports=ExportLinks(core, metrics),
    )
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, settings.http_host, settings.http_port)
    await site.start()
    names = [f"telegram ({framework})"] * bool(telegram) + ["whatsapp"] * bool(whatsapp)
    log.info(
        "http listening on %s:%s; channels: %s",
        settings.http_host,
        settings.http_port,
        ", ".join(names),
    )
    background: Background | None = None
    # An app not run here: its chats' unprompted messages are refused (and audited).
    absent = {app: Outbound(Unconfigured(app)) for app in ("telegram", "whatsapp")}
    try:
        if telegram is not None:
            await _reach_telegram(telegram.adapter, settings, stop)
        # Follow-ups, notices and the daily retention sweep (bot/background/outreach.py).
        # Unprompted messages go to the customer's app (core/domain/reach.py).
        sends = telegram.adapter.outbound if telegram else absent["telegram"]
        others = {"whatsapp": whatsapp.outbound if whatsapp else absent["whatsapp"]}
        background = start_background(core, sends, metrics, channels=others)
        hook.on_scheduled = background.worker.wake
        if drp is not None:
            drp.on_work = background.worker.wake
        if telegram is not None:
            await telegram.start(stop)
        await stop.wait()
    finally:
        # The HTTP server first: a webhook accepted now would be answered 200 and then
        # lost with the paths closing (WhatsApp would not send it again).
        await runner.cleanup()
        await _stop_all(telegram, background, whatsapp, [*absent.values()])


async def _stop_all(
    telegram: _TelegramSide | None,
    background: Background | None,
    whatsapp: WhatsAppHook | None,
    unused: list[Outbound],
) -> None:
    if telegram is not None:
        await telegram.stop_desk()
    if background is not None:
        await background.stop()  # lets sends in flight finish: none left half-done
    if telegram is not None:
        await telegram.close()
    if whatsapp is not None:
        await whatsapp.close()
    for outbound in unused:
        await outbound.close()


@dataclass
class _TelegramSide:
    """The Telegram adapter's life in ``run``: polling or its webhook, and the desk."""

    core: PrivacyCore
    adapter: Adapter
    webhook: str | None
    token: str | None  # Telegram's webhook secret token, in webhook mode
    polling: asyncio.Task[None] | None = None
    desk: asyncio.Task[None] | None = None

    @classmethod
    def make(
        cls,
        core: PrivacyCore,
        settings: BotSettings,
        engine: FlowEngine,
        framework: str,
        config: OutboundConfig,
        metrics: Metrics,
    ) -> _TelegramSide | None:
        if not settings.token:
            return None
        # One path and one budget for everything this process sends on Telegram, shared
        # with the bot's other processes through PostgreSQL (bot/outbound/).
        budget = budget_for(core, config)
        adapter = make_adapter(
            framework,
            engine,
            settings.require_token(),
            settings.api_base,
            lambda sender: Outbound(sender, config, metrics, budget),
        )
        webhook, token = settings.webhook_url, None
        if webhook:
            if not settings.webhook_secret:
                raise ConfigurationError("webhook mode needs PRIVACY_WEBHOOK_SECRET")
            token = webhook_token(settings.webhook_secret)
        return cls(core, adapter, webhook, token)

    async def start(self, stop: asyncio.Event) -> None:
        self.desk = asyncio.create_task(
            run_desk_duties(self.core, self.adapter, self.adapter.outbound, stop)
        )
        if self.webhook and self.token:
            await self.adapter.set_webhook(self.webhook.rstrip("/") + WEBHOOK_PATH, self.token)
        else:
            self.polling = asyncio.create_task(self.adapter.start_polling())

    async def stop_desk(self) -> None:
        if self.desk is not None:
            await asyncio.gather(self.desk, return_exceptions=True)  # it ends when stop is set

    async def close(self) -> None:
        await self.adapter.stop_polling()
        if self.polling is not None:
            await asyncio.gather(self.polling, return_exceptions=True)
        await self.adapter.close()


def _whatsapp(
    settings: BotSettings, engine: FlowEngine, config: OutboundConfig, metrics: Metrics
) -> WhatsAppHook | None:
    if settings.whatsapp is None:
        return None
    # WhatsApp's own limit (per business number, from the policy): its own path and budget.
    limit = replace(config, per_second=engine.core.policy.whatsapp.per_second)
    outbound = Outbound(WhatsAppSender(settings.whatsapp), limit, metrics, channel="whatsapp")
    return WhatsAppHook(settings.whatsapp, engine, outbound, metrics)


def _hooks(
    core: PrivacyCore, settings: BotSettings, metrics: Metrics
) -> tuple[PurchaseHook, DrpHook | None]:
    """The shop's order system's callback, and the authorized agents' /drp if set."""
    hook = PurchaseHook(
        core, settings.webhook_secret, timedelta(seconds=settings.followup_delay), metrics
    )
    if not settings.webhook_secret:
        log.warning("PRIVACY_WEBHOOK_SECRET is not set: POST /hooks/purchase answers 503")
    directory = Directory.from_settings(core.settings)
    if directory is None:
        return hook, None
    log.info("authorized agents (DRP 1.0) on /drp: %d in the directory", len(directory.keys))
    return hook, DrpHook(core, directory, metrics)


async def _reach_telegram(adapter: Adapter, settings: BotSettings, stop: asyncio.Event) -> None:
    """The first call at start (the command menu). A token Telegram refuses stops the
    start at once; Telegram out of reach is tried again, waiting 1, 2, 4 ... up to 30 s
    between attempts (one log line each), for ``TELEGRAM_START_TIMEOUT`` seconds; then
    one sentence instead of a start half-way."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + settings.start_timeout
    for attempt in itertools.count(1):
        try:
            await adapter.register_commands()
            return
        except Rejected as error:
            raise ConfigurationError(
                f"Telegram refused TELEGRAM_BOT_TOKEN ({error}): is it the token BotFather gave?"
            ) from None
        except SendError as error:
            wait = min(2 ** (attempt - 1), _START_BACKOFF_CAP, give_up - loop.time())
            if wait <= 0 or stop.is_set():
                raise ConfigurationError(
                    f"Telegram cannot be reached at {settings.api_base} ({error}) after "
                    f"{attempt} attempts: check the network or TELEGRAM_API_BASE"
                ) from None
            log.warning(
                "Telegram cannot be reached (attempt %d: %s); trying again in %.0f s",
                attempt,
                error,
                wait,
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), wait)


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop
