"""WhatsApp Cloud API: the webhook in, messages out. A thin adapter, no flow logic.

In: ``POST /whatsapp/webhook`` is checked against ``X-Hub-Signature-256`` (HMAC-SHA256
of the raw body with WHATSAPP_APP_SECRET, compared in constant time) before anything
is parsed; it answers 200 at once and the messages are handled after. Each message
becomes an ``Incoming`` on channel ``whatsapp`` whose user is the sender's ``wa_id``;
its message id makes a redelivery a no-op (core/services/inbound.py). ``GET`` answers
Meta's verification (``hub.challenge``) when ``hub.verify_token`` matches.

Out: ``POST {base}/{phone_number_id}/messages`` with the bearer token, through the
one outbound path. A screen's buttons become reply buttons (at most 3, titles at
most 20 characters) or, with more or longer choices, list messages (10 rows each,
title 24 and description 72 characters); each choice's id is the same checked
payload as on Telegram. Documents are uploaded (``/media``) and sent by id, only in
the types WhatsApp accepts (``_DOCUMENT_TYPES``). WhatsApp cannot edit a message or
show a button's toast: an edit is sent as a new message, a notice as a text.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiohttp import web

from bot.channels.telegram import deliver
from bot.conversation import FlowEngine
from bot.conversation.events import WHATSAPP, Button, EventKind, Incoming, Outcome, Reply
from bot.http.metrics import Metrics
from bot.http.purchase import read_limited
from bot.outbound import (
    Blocked,
    DeliveryUnknown,
    NotDelivered,
    Outbound,
    Rejected,
    RetryAfter,
)
from bot.settings import WhatsAppSettings

__all__ = [
    "ABOVE",
    "WEBHOOK_PATH",
    "WhatsAppHook",
    "WhatsAppSender",
    "incoming_from_webhook",
    "sign",
]

log = logging.getLogger("bot.whatsapp")

WEBHOOK_PATH = "/whatsapp/webhook"
MAX_BUTTONS, BUTTON_TITLE = 3, 20
LIST_ROWS, ROW_TITLE, ROW_DESCRIPTION = 10, 24, 72
BODY_LIMIT, TEXT_LIMIT = 1024, 4096
LIST_BUTTON = "☰"  # the list's opener: no words, so no language to pick
TEMPLATE_BUTTONS = 10  # quick replies a template may carry (a follow-up's answers and its stop)
ABOVE = "⬆️"  # the body of choices whose text went just before them (over 1,024 characters)
# WhatsApp's document types (Meta's list: txt, pdf and Office formats); a record or a
# JSON file goes as text. A ZIP or an HTML page is not among them: the export goes
# as a link instead (bot/conversation/rights.py).
_DOCUMENT_TYPES = {".txt": "text/plain", ".pdf": "application/pdf", ".jsonld": "text/plain"}
# Error codes read for what they mean (Meta's Cloud API error codes).
_THROUGHPUT = {130429, 131056, 80007}  # too many messages: this number, one user, the app
_OUTSIDE_WINDOW = 131047  # over 24 hours since the customer's last message
_UNDELIVERABLE = 131026  # not on WhatsApp, or cannot receive from businesses

# Country calling codes whose customers read Chinese first (until they choose).
_LANGUAGE_BY_PREFIX = (("852", "zh-HK"), ("853", "zh-HK"), ("886", "zh-TW"), ("86", "zh-CN"))


def sign(app_secret: str, body: bytes) -> str:
    """The X-Hub-Signature-256 value Meta sends (tests and docs sign with it)."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


# --- in ------------------------------------------------------------------------------


def incoming_from_webhook(
    payload: Mapping[str, Any], phone_number_id: str
) -> tuple[list[Incoming], list[tuple[str, str]]]:
    """The messages to this number as events, and the delivery statuses as
    (status, error code or "")."""
    events: list[Incoming] = []
    statuses: list[tuple[str, str]] = []
    for value in _values(payload):
        metadata = value.get("metadata")
        if (
            not isinstance(metadata, Mapping)
            or str(metadata.get("phone_number_id")) != phone_number_id
        ):
            continue
        events += [e for m in _list(value.get("messages")) if (e := _event(m)) is not None]
        for status in _list(value.get("statuses")):
            errors = _list(status.get("errors")) or [{}]
            statuses.append((str(status.get("status", "")), str(errors[0].get("code", ""))))
    return events, statuses


def _values(payload: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """Each change's value; anything not shaped like the Cloud API's webhook is skipped."""
    for entry in _list(payload.get("entry")):
        for change in _list(entry.get("changes")):
            value = change.get("value")
            if isinstance(value, Mapping):
                yield value


def _sent_at(raw: object) -> datetime | None:
    """The message's own time (unix seconds): the 24-hour window runs from it, not from
    when a redelivery reached us."""
    text = str(raw or "")
    if not (text.isascii() and text.isdigit() and len(text) <= 12):
        return None
    return datetime.fromtimestamp(int(text), UTC)


def _map(raw: object) -> Mapping[str, Any]:
    return raw if isinstance(raw, Mapping) else {}


def _list(raw: object) -> list[Mapping[str, Any]]:
    return [item for item in raw if isinstance(item, Mapping)] if isinstance(raw, list) else []


def _event(message: Mapping[str, Any]) -> Incoming | None:
    wa_id, message_id = str(message.get("from", "")), message.get("id")
    if not (wa_id.isascii() and wa_id.isdigit() and len(wa_id) <= 15) or not message_id:
        return None
    common: dict[str, Any] = {
        "user_id": int(wa_id),
        "chat_id": int(wa_id),
        "channel": WHATSAPP,
        "platform_id": str(message_id)[:200],
        "sent_at": _sent_at(message.get("timestamp")),
        "language_code": next(
            (lang for p, lang in _LANGUAGE_BY_PREFIX if wa_id.startswith(p)), None
        ),
    }
    kind = message.get("type")
    if kind == "text":
        text = str(_map(message.get("text")).get("body") or "")
        if text.startswith("/"):
            head, _, args = text[1:].partition(" ")
            return Incoming(kind=EventKind.COMMAND, text=head.lower(), args=args.strip(), **common)
        return Incoming(kind=EventKind.TEXT, text=text, **common)
    if kind == "interactive":
        interactive = _map(message.get("interactive"))
        reply = _map(interactive.get(str(interactive.get("type"))))
        return Incoming(kind=EventKind.BUTTON, data=str(reply.get("id") or "")[:256], **common)
    if kind == "button":  # a quick-reply button of a template
        payload = _map(message.get("button")).get("payload")
        return Incoming(kind=EventKind.BUTTON, data=str(payload or "")[:256], **common)
    if kind == "contacts":
        cards = _list(message.get("contacts")) or [{}]
        phones = _list(cards[0].get("phones")) or [{}]
        shared = str(phones[0].get("wa_id") or "")
        return Incoming(
            kind=EventKind.CONTACT,
            contact_phone=str(phones[0].get("phone") or ""),
            contact_user_id=int(shared) if shared.isdigit() else None,
            **common,
        )
    log.info("unsupported message kind=%s", kind if isinstance(kind, str) else "other")
    return Incoming(kind=EventKind.UNSUPPORTED, **common)


# --- out ------------------------------------------------------------------------------


class WhatsAppSender:
    """Every call's failures leave as bot.outbound's SendError classes."""

    def __init__(self, settings: WhatsAppSettings, timeout: float = 20.0) -> None:
        self.settings = settings
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._http: aiohttp.ClientSession | None = None

    async def send_text(self, chat_id: int, reply: Reply) -> None:
        for message in messages_for(reply):
            await self._post("messages", {**_to(chat_id), **message})

    async def edit_text(self, chat_id: int, message_id: int, reply: Reply) -> bool:
        return False  # WhatsApp edits nothing: the outbound path sends it anew

    async def send_document(self, chat_id: int, name: str, content: bytes, caption: str) -> None:
        suffix = name[name.rfind(".") :].lower() if "." in name else ""
        mime = _DOCUMENT_TYPES.get(suffix)
        if mime is None:
            raise Rejected(f"WhatsApp takes no {suffix or 'untyped'} documents")
        shown = name if suffix in (".txt", ".pdf") else f"{name}.txt"
        media = await self._upload(shown, content, mime)
        document = {"id": media, "filename": shown, "caption": caption[:BODY_LIMIT]}
        await self._post("messages", {**_to(chat_id), "type": "document", "document": document})

    async def send_photo(self, chat_id: int, content: bytes, caption: str) -> None:
        media = await self._upload("chart.png", content, "image/png")
        image = {"id": media, "caption": caption[:BODY_LIMIT]}
        await self._post("messages", {**_to(chat_id), "type": "image", "image": image})

    async def answer_callback(self, callback_id: str, text: str | None, alert: bool) -> None:
        return None  # no button toasts on WhatsApp: a notice is sent as a message

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None:
            headers = {"Authorization": f"Bearer {self.settings.access_token}"}
            self._http = aiohttp.ClientSession(timeout=self._timeout, headers=headers)
        return self._http

    def _url(self, path: str) -> str:
        return f"{self.settings.api_base}/{self.settings.phone_number_id}/{path}"

    async def _post(self, path: str, message: dict[str, Any]) -> dict[str, Any]:
        return await self._request(self._session().post(self._url(path), json=message))

    async def _upload(self, name: str, content: bytes, mime: str) -> str:
        form = aiohttp.FormData()
        form.add_field("messaging_product", "whatsapp")
        form.add_field("type", mime)
        form.add_field("file", content, filename=name, content_type=mime)
        answer = await self._request(self._session().post(self._url("media"), data=form))
        media = answer.get("id")
        if not isinstance(media, str):
            raise Rejected("the media upload gave no id")
        return media

    async def _request(self, call: Any) -> dict[str, Any]:
        try:
            async with call as response:
                status, text = response.status, await response.text()
        except aiohttp.ClientConnectorError as exc:
            raise NotDelivered(type(exc).__name__) from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryUnknown(type(exc).__name__) from exc
        try:
            answer = json.loads(text) if text else {}
        except ValueError:
            answer = {}
        if status >= 400 or "error" in answer:
            _raise_for(status, answer.get("error") or {})
        return answer if isinstance(answer, dict) else {}


def _raise_for(status: int, error: Mapping[str, Any]) -> None:
    code = error.get("code")
    if code in _THROUGHPUT or status == 429:
        raise RetryAfter(1.0 if code == 130429 else 5.0)
    if code == _UNDELIVERABLE:
        raise Blocked(f"whatsapp {code}")
    if code == _OUTSIDE_WINDOW:
        raise Rejected(f"whatsapp {code}: outside the 24-hour window")
    if status >= 500:
        raise NotDelivered(f"HTTP {status}")
    raise Rejected(f"whatsapp {code or status}")


def _to(chat_id: int) -> dict[str, Any]:
    return {"messaging_product": "whatsapp", "recipient_type": "individual", "to": str(chat_id)}


def messages_for(reply: Reply) -> list[dict[str, Any]]:
    """The message(s) that show a reply: text, reply buttons, lists of 10, or the
    approved template the core chose outside the 24-hour window."""
    buttons = [b for row in reply.buttons for b in row]
    if reply.template is not None:
        return [_template(reply.template, reply.text, buttons)]
    text = reply.text or " "
    if not buttons:
        return [_text(part) for part in _parts(text, TEXT_LIMIT)]
    # A long screen: its text as messages, then its choices under a pointer to them.
    before, body = ([], text) if len(text) <= BODY_LIMIT else (_parts(text, TEXT_LIMIT), ABOVE)
    out = [_text(part) for part in before]
    if len(buttons) <= MAX_BUTTONS and all(len(b.text) <= BUTTON_TITLE for b in buttons):
        action: dict[str, Any] = {
            "buttons": [
                {"type": "reply", "reply": {"id": b.data, "title": b.text}} for b in buttons
            ]
        }
        return [*out, _interactive("button", body, action)]
    for start in range(0, len(buttons), LIST_ROWS):
        rows = [_row(b) for b in buttons[start : start + LIST_ROWS]]
        listed: dict[str, Any] = {"button": LIST_BUTTON, "sections": [{"rows": rows}]}
        out.append(_interactive("list", body if start == 0 else "…", listed))
    return out


def _template(template: tuple[str, str], text: str, buttons: list[Button]) -> dict[str, Any]:
    """The template with the message as its body parameter (no line breaks allowed
    there) and each button's checked payload on its quick replies, in order."""
    name, language = template
    flat = " · ".join(line.strip() for line in text.splitlines() if line.strip())
    components: list[dict[str, Any]] = [
        {"type": "body", "parameters": [{"type": "text", "text": flat[:BODY_LIMIT]}]}
    ]
    components += [
        {
            "type": "button",
            "sub_type": "quick_reply",
            "index": str(i),
            "parameters": [{"type": "payload", "payload": b.data}],
        }
        for i, b in enumerate(buttons[:TEMPLATE_BUTTONS])
    ]
    body = {"name": name, "language": {"code": language}, "components": components}
    return {"type": "template", "template": body}


def _text(body: str) -> dict[str, Any]:
    return {"type": "text", "text": {"body": body, "preview_url": False}}


def _interactive(kind: str, body: str, action: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "interactive",
        "interactive": {"type": kind, "body": {"text": body}, "action": action},
    }


def _row(button: Button) -> dict[str, Any]:
    if len(button.text) <= ROW_TITLE:
        return {"id": button.data, "title": button.text}
    title = button.text[: ROW_TITLE - 1].rstrip() + "…"
    return {"id": button.data, "title": title, "description": button.text[:ROW_DESCRIPTION]}


def _parts(text: str, limit: int) -> list[str]:
    """The text in pieces of at most ``limit`` characters, cut at line ends where possible."""
    parts: list[str] = []
    while len(text) > limit:
        cut = text.rfind("\n", 0, limit)
        cut = cut if cut > 0 else limit
        parts.append(text[:cut])
        text = text[cut:].lstrip("\n")
    return [*parts, text]


# --- the webhook -------------------------------------------------------------------------


class WhatsAppHook:
    """``/whatsapp/webhook`` on the bot's HTTP server."""

    def __init__(
        self, settings: WhatsAppSettings, engine: FlowEngine, outbound: Outbound, metrics: Metrics
    ) -> None:
        self.settings, self.engine, self.outbound, self.metrics = (
            settings,
            engine,
            outbound,
            metrics,
        )
        self._tasks: set[asyncio.Task[None]] = set()

    def register(self, app: web.Application) -> None:
        app.router.add_get(WEBHOOK_PATH, self.verify)
        app.router.add_post(WEBHOOK_PATH, self.receive)

    async def verify(self, request: web.Request) -> web.Response:
        query = request.query
        token = query.get("hub.verify_token", "")
        if query.get("hub.mode") == "subscribe" and hmac.compare_digest(
            token.encode(), self.settings.verify_token.encode()
        ):
            return web.Response(text=query.get("hub.challenge", ""), content_type="text/plain")
        return web.Response(status=403, text="forbidden")

    async def receive(self, request: web.Request) -> web.Response:
        body = await read_limited(request)
        if body is None:
            return web.Response(status=413, text="too large")
        given = request.headers.get("X-Hub-Signature-256", "")
        if not hmac.compare_digest(sign(self.settings.app_secret, body).encode(), given.encode()):
            self.metrics.inc("privacy_webhook_rejected_total", "Webhook calls with a bad secret")
            return web.Response(status=401, text="bad signature")
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return web.Response(status=400, text="not JSON")
        if isinstance(payload, dict):
            task = asyncio.create_task(self._handle(payload))  # 200 now, the work after
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return web.Response(text="ok")

    async def _handle(self, payload: dict[str, Any]) -> None:
        try:
            events, statuses = incoming_from_webhook(payload, self.settings.phone_number_id)
        except Exception as error:  # authentic but unreadable: nothing to answer
            log.error("whatsapp webhook unreadable: %s", type(error).__name__)
            return
        for status, code in statuses:
            self.metrics.inc(
                "privacy_whatsapp_statuses_total",
                "WhatsApp delivery statuses by status and error code",
                status=status[:16],
                code=code[:8],
            )
        for event in events:
            self.metrics.inc(
                "privacy_updates_total", "Updates received, by messaging app", channel=WHATSAPP
            )
            try:
                outcome = await self.engine.handle(event)
                await deliver(_with_notice(outcome), event, None, self.outbound)
            except Exception as error:  # one message's failure must not stop the others
                log.error("whatsapp message failed: %s", type(error).__name__)

    async def settle(self) -> None:
        """Wait for the messages being handled (at stop, and in tests)."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def close(self) -> None:
        await self.settle()
        await self.outbound.close()
        sender = self.outbound.sender
        if isinstance(sender, WhatsAppSender):
            await sender.close()


def _with_notice(outcome: Outcome) -> Outcome:
    """A button's notice ("that button has expired") as the first message."""
    if not outcome.notice:
        return outcome
    return Outcome(replies=[Reply(text=outcome.notice), *outcome.replies])
