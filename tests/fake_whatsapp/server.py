"""The WhatsApp Cloud API as the bot uses it: ``POST /{version}/{phone_number_id}/messages``
and ``/media``, bearer token checked. It records every call, answers media uploads
with ids, and can be told to fail the next calls with an error code (131047 outside
the window, 131026 undeliverable, 130429 throughput, ...). It signs nothing: the
tests sign the webhook posts they send to the bot (as Meta would).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

__all__ = ["APP_SECRET", "PHONE_NUMBER_ID", "VERIFY_TOKEN", "FakeWhatsApp", "Sent"]

PHONE_NUMBER_ID = "106540352242922"
ACCESS_TOKEN = "EAAtest-access-token"
APP_SECRET = "test-app-secret"
VERIFY_TOKEN = "test-verify-token"


@dataclass
class Sent:
    id: str
    to: str
    message: dict[str, Any]


@dataclass
class FakeWhatsApp:
    sent: list[Sent] = field(default_factory=list)
    media: dict[str, tuple[str, str, bytes]] = field(default_factory=dict)  # id -> name, type, data
    errors: list[str] = field(default_factory=list)  # the fake's own crashes
    _faults: list[tuple[int, int]] = field(default_factory=list)  # (HTTP status, code)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _server: TestServer | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/v21.0/{number}/messages", self._messages)
        app.router.add_post("/v21.0/{number}/media", self._media)
        self._server = TestServer(app)
        await self._server.start_server()

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.close()

    @property
    def api_base(self) -> str:
        assert self._server is not None
        return str(self._server.make_url("/v21.0"))

    def env(self) -> dict[str, str]:
        return {
            "WHATSAPP_ACCESS_TOKEN": ACCESS_TOKEN,
            "WHATSAPP_PHONE_NUMBER_ID": PHONE_NUMBER_ID,
            "WHATSAPP_APP_SECRET": APP_SECRET,
            "WHATSAPP_VERIFY_TOKEN": VERIFY_TOKEN,
            "WHATSAPP_API_BASE": self.api_base,
        }

    def fail_next(self, code: int, status: int = 400, times: int = 1) -> None:
        self._faults += [(status, code)] * times

    def messages(self, wa_id: str) -> list[Sent]:
        return [s for s in self.sent if s.to == wa_id]

    # --- the API -----------------------------------------------------------------------

    def _refused(self, request: web.Request) -> web.Response | None:
        if request.match_info["number"] != PHONE_NUMBER_ID:
            return _error(400, 100, "unknown phone number id")
        if request.headers.get("Authorization") != f"Bearer {ACCESS_TOKEN}":
            return _error(401, 190, "invalid access token")
        if self._faults:
            status, code = self._faults.pop(0)
            return _error(status, code, "injected")
        return None

    async def _messages(self, request: web.Request) -> web.Response:
        try:
            refused = self._refused(request)
            if refused is not None:
                return refused
            body = await request.json()
            if body.get("messaging_product") != "whatsapp" or not body.get("to"):
                return _error(400, 100, "bad message")
            problem = _check(body)
            if problem:
                return _error(400, 131009, problem)
            sent = Sent(f"wamid.{next(self._ids)}", str(body["to"]), body)
            self.sent.append(sent)
            answer = {"messaging_product": "whatsapp", "messages": [{"id": sent.id}]}
            return web.json_response({**answer, "contacts": [{"wa_id": sent.to}]})
        except Exception as exc:  # a bug in the fake must not look like the bot's
            self.errors.append(repr(exc))
            raise

    async def _media(self, request: web.Request) -> web.Response:
        refused = self._refused(request)
        if refused is not None:
            return refused
        form = await request.post()
        upload = form.get("file")
        if form.get("messaging_product") != "whatsapp" or not isinstance(upload, web.FileField):
            return _error(400, 100, "bad upload")
        media_id = str(next(self._ids) + 900000)
        self.media[media_id] = (upload.filename, str(form.get("type")), upload.file.read())
        return web.json_response({"id": media_id})


def _check(body: dict[str, Any]) -> str | None:
    """The Cloud API's own limits on what the bot sends."""
    if body.get("type") == "interactive":
        interactive = body["interactive"]
        action = interactive["action"]
        if len(interactive["body"]["text"]) > 1024:
            return "body over 1024 characters"
        if interactive["type"] == "button":
            buttons = action["buttons"]
            if not 1 <= len(buttons) <= 3 or any(len(b["reply"]["title"]) > 20 for b in buttons):
                return "1 to 3 buttons, titles up to 20 characters"
        else:
            rows = [r for s in action["sections"] for r in s["rows"]]
            if len(rows) > 10 or any(len(r["title"]) > 24 for r in rows):
                return "up to 10 rows, titles up to 24 characters"
            if any(len(r.get("description", "")) > 72 for r in rows):
                return "descriptions up to 72 characters"
    if body.get("type") == "text" and len(body["text"]["body"]) > 4096:
        return "text over 4096 characters"
    return None


def _error(status: int, code: int, message: str) -> web.Response:
    error = {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "fake"}
    return web.json_response({"error": error}, status=status)
