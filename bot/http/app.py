"""The aiohttp application served by ``privacy-bot run``."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from bot.channels.telegram import secret_matches
from bot.channels.whatsapp import WhatsAppHook
from bot.http.drp import DrpHook
from bot.http.exports import ExportLinks
from bot.http.metrics import Metrics
from bot.http.purchase import PurchaseHook

__all__ = ["WEBHOOK_PATH", "build_app"]

log = logging.getLogger("bot.http")

WEBHOOK_PATH = "/telegram/webhook"
MAX_BODY = 64 * 1024

FeedUpdate = Callable[[dict[str, Any]], Awaitable[None]]


def build_app(
    metrics: Metrics,
    *,
    feed_update: FeedUpdate | None = None,
    webhook_token: str | None = None,
    purchase: PurchaseHook | None = None,
    drp: DrpHook | None = None,
    whatsapp: WhatsAppHook | None = None,
    exports: ExportLinks | None = None,
) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/metrics", _metrics_handler(metrics))
    if purchase is not None:
        purchase.register(app)
    if drp is not None:  # else every /drp path answers 404: DRP is off
        drp.register(app)
    if whatsapp is not None:
        whatsapp.register(app)
    if exports is not None:
        exports.register(app)
    if feed_update is not None and webhook_token is not None:
        app.router.add_post(WEBHOOK_PATH, _webhook_handler(feed_update, webhook_token, metrics))
    return app


async def _healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def _metrics_handler(metrics: Metrics) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(_request: web.Request) -> web.Response:
        return web.Response(text=metrics.render(), content_type="text/plain", charset="utf-8")

    return handler


def _webhook_handler(
    feed_update: FeedUpdate, token: str, metrics: Metrics
) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        if not secret_matches(token, request.headers.get("X-Telegram-Bot-Api-Secret-Token")):
            metrics.inc("privacy_webhook_rejected_total", "Webhook calls with a bad secret")
            return web.json_response({"error": "forbidden"}, status=403)
        try:
            payload = json.loads(await request.read())
        except (ValueError, web.HTTPRequestEntityTooLarge):
            return web.json_response({"error": "bad update"}, status=400)
        if not isinstance(payload, dict):
            return web.json_response({"error": "bad update"}, status=400)
        metrics.inc(
            "privacy_updates_total", "Updates received, by messaging app", channel="telegram"
        )
        await feed_update(payload)
        return web.json_response({"ok": True})

    return handler
