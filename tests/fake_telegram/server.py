"""A fake Telegram Bot API server that the real aiogram and python-telegram-bot talk to.

Tests drive the bot end to end over HTTP on 127.0.0.1, exactly as in production, so the
libraries' own request encoding, polling loops, retries and error mapping are exercised.
The fake keeps just enough state (chats, bot messages, queued updates, files) to answer
like Telegram does, records every call, and can inject faults and rate limits.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hashlib
import html
import inspect
import itertools
import json
import logging
import math
import mimetypes
import re
import socket
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import aiohttp
from aiohttp import web

logger = logging.getLogger(__name__)

Json = dict[str, Any]
FileField = tuple[str, bytes]
Handler = Callable[["Call", Json], Any]

DEFAULT_TOKEN = "123456:TEST-TOKEN"
SEND_METHODS = frozenset({"sendMessage", "sendDocument", "sendPhoto"})
EDIT_METHODS = frozenset({"editMessageText", "editMessageReplyMarkup", "deleteMessage"})
MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_CALLBACK_DATA = 64

# Form fields that are plain strings even when they look like JSON ("123", "true").
# Every other form field is JSON-encoded by both libraries and is decoded back.
_STRING_FIELDS = frozenset(
    {
        "text",
        "caption",
        "parse_mode",
        "callback_query_id",
        "inline_message_id",
        "url",
        "secret_token",
        "ip_address",
        "action",
        "document",
        "photo",
        "thumbnail",
        "certificate",
        "file_id",
        "language_code",
        "business_connection_id",
        "message_effect_id",
        "emoji",
    }
)
_ID_FIELDS = frozenset({"chat_id", "from_chat_id", "user_id"})
_INT_RE = re.compile(r"-?\d+")
_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)
_DEFAULT_DESCRIPTIONS = {
    400: "Bad Request: injected failure",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: "Conflict: terminated by other getUpdates request",
    500: "Internal Server Error",
    502: "Bad Gateway",
}
_MISSING: Any = object()


@dataclass
class Call:
    """One recorded Bot API request, so tests can assert on what the bot really sent.

    `params` are decoded to Python values (ids as int, reply_markup as dict); uploaded
    files are in `files` keyed by the API field ("document", "photo"), never in `params`.
    `at` is `time.monotonic()` on arrival, so intervals between calls can be measured.
    `status` is the HTTP status answered (None while in flight, 0 if the connection was
    dropped or abandoned); `response` is the JSON body answered.
    """

    method: str
    params: Json
    files: dict[str, FileField]
    at: float
    status: int | None = None
    response: Json | None = None

    @property
    def ok(self) -> bool:
        """True when Telegram would have accepted the call (and e.g. delivered a message)."""
        return self.status == 200

    @property
    def chat_id(self) -> Any:
        """The target chat, the one parameter nearly every assertion filters on."""
        return self.params.get("chat_id")


class _ApiError(Exception):
    """A Telegram error answer; raised by method handlers, turned into JSON by the server."""

    def __init__(self, status: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.retry_after = retry_after

    def body(self) -> Json:
        """The exact error shape both libraries map to their exception classes."""
        body: Json = {"ok": False, "error_code": self.status, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


@dataclass
class _Fault:
    """An injected misbehaviour for the next `times` calls of one method."""

    kind: Literal["fail", "delay", "drop", "garble"]
    times: int
    after_processing: bool = False
    error: _ApiError | None = None
    seconds: float = 0.0


class _RateLimiter:
    """Sliding-window limits like Telegram's: N sends/second overall and per chat.

    A chat's window spans ``chat_burst`` seconds: with 3, a chat may get three
    messages at once (a reply of several parts) but no more than 1/s on average.
    """

    def __init__(
        self,
        global_per_second: int | None,
        per_chat_per_second: int | None,
        per_group_per_minute: int | None,
        chat_burst: int = 1,
    ) -> None:
        chat_limit = None if per_chat_per_second is None else per_chat_per_second * chat_burst
        self._limits = (global_per_second, chat_limit, per_group_per_minute)
        self._chat_span = float(chat_burst)
        self._global: deque[float] = deque()
        self._chats: dict[Any, deque[float]] = {}
        self._groups: dict[Any, deque[float]] = {}

    def admit(self, chat_id: Any, now: float) -> int | None:
        """Record the send and return None, or return retry_after seconds if over a limit."""
        global_limit, chat_limit, group_limit = self._limits
        windows = [(self._global, global_limit, 1.0)]
        windows.append((self._chats.setdefault(chat_id, deque()), chat_limit, self._chat_span))
        if isinstance(chat_id, int) and chat_id < 0:
            windows.append((self._groups.setdefault(chat_id, deque()), group_limit, 60.0))
        waits = [_window_wait(q, limit, span, now) for q, limit, span in windows]
        worst = max(waits)
        if worst > 0:
            return max(1, math.ceil(worst))
        for q, _, _ in windows:
            q.append(now)
        return None


def _window_wait(window: deque[float], limit: int | None, span: float, now: float) -> float:
    """Seconds until the window has room (0 if it has room now); prunes expired entries."""
    while window and window[0] <= now - span:
        window.popleft()
    if limit is None or len(window) < limit:
        return 0.0
    return window[0] + span - now


def _coerce(name: str, value: str) -> Any:
    """Decode one form field the way Telegram does (libraries JSON-encode non-strings)."""
    if name in _STRING_FIELDS:
        return value
    if name in _ID_FIELDS:
        return int(value) if _INT_RE.fullmatch(value) else value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _utf16_len(text: str) -> int:
    """Telegram measures text limits in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def _visible_text(text: str, parse_mode: str | None) -> str:
    """Roughly what the user sees, so length limits apply after HTML markup is removed."""
    if parse_mode and parse_mode.upper() == "HTML":
        return html.unescape(re.sub(r"<[^>]+>", "", text))
    return text


def _is_inline_markup(markup: Any) -> bool:
    """Only inline keyboards are echoed back in Message.reply_markup (aiogram insists)."""
    return isinstance(markup, dict) and "inline_keyboard" in markup


def _check_markup(markup: Any) -> None:
    """Reject callback data longer than 64 bytes, as Telegram does."""
    if not _is_inline_markup(markup):
        return
    for row in markup.get("inline_keyboard") or []:
        for button in row:
            data = button.get("callback_data") if isinstance(button, dict) else None
            if data is not None and not 1 <= len(str(data).encode()) <= MAX_CALLBACK_DATA:
                raise _ApiError(400, "Bad Request: BUTTON_DATA_INVALID")


def _int_param(params: Json, name: str, default: int | None = None) -> int:
    """Read an integer parameter or answer 400 like Telegram, never crash the handler."""
    value = params.get(name, default)
    if value is None:
        raise _ApiError(400, f"Bad Request: {name} is empty")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise _ApiError(400, f"Bad Request: invalid {name} specified") from None


def _user(user_id: int, first_name: str, language_code: str | None, is_bot: bool) -> Json:
    """A Telegram User object."""
    user: Json = {"id": user_id, "is_bot": is_bot, "first_name": first_name}
    if language_code:
        user["language_code"] = language_code
    return user


def _default_chat(chat_id: int) -> Json:
    """A plausible Chat for an id the fake has not seen in an update yet."""
    if chat_id > 0:
        return {"id": chat_id, "type": "private", "first_name": "Test"}
    return {"id": chat_id, "type": "group", "title": f"Test group {chat_id}"}


class FakeTelegram:
    """An in-process Bot API server on 127.0.0.1 plus helpers to act as users.

    Use `async with FakeTelegram() as fake:` (or the `fake_telegram` pytest fixture), point
    the bot at `fake.api_base`, queue updates with `push_*`, and assert with `wait_for`,
    `calls_to`, `sent_to` and `messages`. Faults: `fail_next`, `delay_next`, `drop_next`,
    `enforce_rate_limits`, `block_user`.
    """

    def __init__(self, token: str = DEFAULT_TOKEN, *, host: str = "127.0.0.1") -> None:
        self.token = token
        self.host = host
        self.port = 0
        self.calls: list[Call] = []
        self.errors: list[BaseException] = []
        self.rate_limited_count = 0
        self._runner: web.AppRunner | None = None
        self._stopping = asyncio.Event()
        self._changed = asyncio.Event()
        self._next_update_id = 1
        self._ids = itertools.count(1)
        self._updates: list[Json] = []
        self._allowed_updates: list[str] | None = None
        self._poll_generation = 0
        self._chats: dict[int, Json] = {}
        self._bot_messages: dict[int, dict[int, Json]] = {}
        self._next_message_id: dict[int, int] = {}
        self._last_user_message: dict[int, int] = {}
        self._files: dict[str, tuple[str, bytes, str]] = {}
        self._file_paths: dict[str, str] = {}
        self._open_callbacks: set[str] = set()
        self._commands: dict[str, list[Json]] = {}
        self._webhook: Json = {"url": ""}
        self._faults: dict[str, list[_Fault]] = {}
        self._limiter: _RateLimiter | None = None
        self._blocked: set[int] = set()
        self._last_activity = time.monotonic()
        self._handlers: dict[str, Handler] = self._method_table()
        self._canonical = {name.lower(): name for name in self._handlers}

    # ------------------------------------------------------------------ lifecycle

    @property
    def api_base(self) -> str:
        """Base URL for TelegramAPIServer.from_base / PTB base_url(api_base + "/bot")."""
        return f"http://{self.host}:{self.port}"

    async def start(self) -> FakeTelegram:
        """Bind a free port; handler cancellation lets abandoned long polls end at once."""
        self._stopping = asyncio.Event()
        app = web.Application(client_max_size=60 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        self._runner = web.AppRunner(
            app, handler_cancellation=True, access_log=None, shutdown_timeout=1.0
        )
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind((self.host, 0))
        self.port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()
        return self

    async def stop(self) -> None:
        """Answer pending long polls and delays immediately, then close all connections."""
        self._stopping.set()
        self._notify()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def __aenter__(self) -> FakeTelegram:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ recording

    def calls_to(self, method: str) -> list[Call]:
        """All recorded calls of one method (any outcome), oldest first."""
        name = self._canonical.get(method.lower(), method)
        return [call for call in self.calls if call.method == name]

    def sent_to(self, chat_id: int) -> list[Call]:
        """Accepted sendMessage/sendDocument/sendPhoto calls to a chat: what it received."""
        return [
            call
            for call in self.calls
            if call.method in SEND_METHODS and call.chat_id == chat_id and call.ok
        ]

    def messages(self, chat_id: int) -> list[Json]:
        """Current bot messages in a chat (after edits and deletions), oldest first."""
        stored = self._bot_messages.get(chat_id, {})
        return [copy.deepcopy(stored[mid]) for mid in sorted(stored)]

    @property
    def pending_updates(self) -> list[Json]:
        """Queued updates the bot has not confirmed yet (via getUpdates offset)."""
        return copy.deepcopy(self._updates)

    async def wait_for(
        self,
        method: str,
        predicate: Callable[[Call], bool] | None = None,
        *,
        count: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109 - a deadline across many waits
    ) -> list[Call]:
        """Wait until `count` answered calls of `method` match; returns all that match.

        Fails with the recorded call log, which is usually all one needs to debug a test.
        """
        name = self._canonical.get(method.lower(), method)
        deadline = time.monotonic() + timeout
        while True:
            matched = [
                c for c in self.calls_to(name) if c.status is not None and _safe(predicate, c)
            ]
            remaining = deadline - time.monotonic()
            if len(matched) >= count:
                return matched
            if remaining <= 0:
                msg = f"waited {timeout}s for {count} x {name}, matched {len(matched)}"
                raise AssertionError(f"{msg}\n{self.summary()}")
            await self._wait_change(remaining)

    async def wait_idle(
        self,
        *,
        quiet: float = 0.1,
        timeout: float = 5.0,  # noqa: ASYNC109 - a deadline across many checks
    ) -> None:
        """Wait until every update was fetched and the bot made no call for `quiet` seconds.

        Long polls don't count as activity, so this means "the bot has reacted to
        everything it was sent".
        """
        deadline = time.monotonic() + timeout
        while True:
            busy = self._updates or any(
                c.status is None and c.method != "getUpdates" for c in self.calls
            )
            now = time.monotonic()
            if not busy and now - self._last_activity >= quiet:
                return
            if now >= deadline:
                raise AssertionError(f"not idle after {timeout}s\n{self.summary()}")
            await asyncio.sleep(min(quiet / 2, 0.05))

    def summary(self, limit: int = 40) -> str:
        """A readable log of recent calls (getUpdates folded into a count)."""
        polls = len(self.calls_to("getUpdates"))
        others = [c for c in self.calls if c.method != "getUpdates"][-limit:]
        start = self.calls[0].at if self.calls else 0.0
        lines = [f"recorded calls ({polls} getUpdates omitted):"]
        for call in others:
            shown = {k: _short(v) for k, v in call.params.items() if k != "reply_markup"}
            markup = " +markup" if "reply_markup" in call.params else ""
            files = f" files={sorted(call.files)}" if call.files else ""
            lines.append(
                f"  +{call.at - start:.3f}s {call.method} {shown}{markup}{files} -> {call.status}"
            )
        if self._updates:
            lines.append(f"unconfirmed updates: {[u['update_id'] for u in self._updates]}")
        return "\n".join(lines)

    # ------------------------------------------------------------------ acting as users

    def push_update(self, raw: Json) -> Json:
        """Queue any update; assigns update_id if missing and wakes a waiting long poll."""
        update = copy.deepcopy(raw)
        update.setdefault("update_id", self._next_update_id)
        self._next_update_id = max(self._next_update_id, int(update["update_id"]) + 1)
        query = update.get("callback_query")
        if isinstance(query, dict) and "id" in query:
            self._open_callbacks.add(str(query["id"]))
        self._updates.append(update)
        self._updates.sort(key=lambda u: u["update_id"])
        self._notify()
        return copy.deepcopy(update)

    def push_message(
        self,
        user_id: int,
        text: str,
        *,
        chat_id: int | None = None,
        chat_type: str = "private",
        language_code: str | None = "en",
        first_name: str = "Test",
        is_bot: bool = False,
        entities: list[Json] | None = None,
    ) -> Json:
        """A user writes `text` (no entities added: use push_command for commands)."""
        message = self._user_message(
            user_id, chat_id, chat_type, _user(user_id, first_name, language_code, is_bot)
        )
        message["text"] = text
        if entities:
            message["entities"] = entities
        return self.push_update({"message": message})

    def push_command(self, user_id: int, text: str, **kwargs: Any) -> Json:
        """Like push_message, plus the bot_command entity clients add (PTB requires it)."""
        if text.startswith("/") and "entities" not in kwargs:
            command = text.split(maxsplit=1)[0]
            kwargs["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        return self.push_message(user_id, text, **kwargs)

    def push_callback(
        self,
        user_id: int,
        data: str,
        *,
        message_id: int | None = None,
        chat_id: int | None = None,
        language_code: str | None = "en",
        message: Json | None = _MISSING,
        first_name: str = "Test",
    ) -> Json:
        """A user presses an inline button under bot message `message_id`.

        The bot's current message is attached; an unknown id gives an InaccessibleMessage
        (date 0), as Telegram does for old messages. `message=None` (or no message_id)
        sends a callback without a message, like one from an inline-mode message.
        """
        chat = chat_id if chat_id is not None else user_id
        query: Json = {
            "id": f"{user_id}{next(self._ids):08d}",
            "from": _user(user_id, first_name, language_code, False),
            "chat_instance": hashlib.sha1(str(chat).encode()).hexdigest()[:16],
            "data": data,
        }
        attached = self._callback_message(chat, message_id) if message is _MISSING else message
        if attached is None:
            query["inline_message_id"] = f"inline-{message_id or next(self._ids)}"
        else:
            query["message"] = attached
        return self.push_update({"callback_query": query})

    def push_contact(
        self,
        user_id: int,
        phone_number: str,
        *,
        contact_user_id: int | None = None,
        omit_user_id: bool = False,
        first_name: str = "Test",
        language_code: str | None = "en",
    ) -> Json:
        """A user shares a contact; by default their own (contact.user_id == from.id)."""
        message = self._user_message(
            user_id, None, "private", _user(user_id, first_name, language_code, False)
        )
        contact: Json = {"phone_number": phone_number, "first_name": first_name}
        if not omit_user_id:
            contact["user_id"] = contact_user_id if contact_user_id is not None else user_id
        message["contact"] = contact
        return self.push_update({"message": message})

    def push_sticker(self, user_id: int, *, emoji: str = "👍") -> Json:
        """A user sends a sticker (content the bot should not expect)."""
        message = self._user_message(user_id, None, "private", _user(user_id, "Test", "en", False))
        file_id = self._store_file("sticker.webp", b"RIFF-fake-webp", "image/webp")
        message["sticker"] = {
            "file_id": file_id,
            "file_unique_id": f"u{file_id}",
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": emoji,
        }
        return self.push_update({"message": message})

    def push_photo(self, user_id: int, *, caption: str | None = None) -> Json:
        """A user sends a photo (downloadable through getFile like a real one)."""
        message = self._user_message(user_id, None, "private", _user(user_id, "Test", "en", False))
        message["photo"] = self._photo_sizes(self._store_file("photo.jpg", b"\xff\xd8fake", None))
        if caption is not None:
            message["caption"] = caption
        return self.push_update({"message": message})

    def push_edited_message(
        self, user_id: int, text: str, *, message_id: int | None = None, chat_id: int | None = None
    ) -> Json:
        """A user edits their last (or given) message; bots must not treat it as new input."""
        chat = chat_id if chat_id is not None else user_id
        mid = message_id or self._last_user_message.get(chat) or self._next_mid(chat)
        message: Json = {
            "message_id": mid,
            "date": int(time.time()) - 1,
            "edit_date": int(time.time()),
            "chat": self._chat(chat),
            "from": _user(user_id, "Test", "en", False),
            "text": text,
        }
        return self.push_update({"edited_message": message})

    async def deliver_webhook(
        self,
        update: Json,
        url: str,
        secret_token: str | None = None,
        *,
        timeout: float = 10.0,  # noqa: ASYNC109 - passed on to aiohttp
    ) -> int:
        """POST an update to a bot's webhook as Telegram would; returns the HTTP status."""
        headers = {"X-Telegram-Bot-Api-Secret-Token": secret_token} if secret_token else {}
        client_timeout = aiohttp.ClientTimeout(total=timeout)
        async with (
            aiohttp.ClientSession(timeout=client_timeout) as session,
            session.post(url, json=update, headers=headers) as response,
        ):
            await response.read()
            return response.status

    # ------------------------------------------------------------------ fault injection

    def fail_next(
        self,
        method: str,
        status: int = 500,
        *,
        times: int = 1,
        retry_after: int | None = None,
        description: str | None = None,
        after_processing: bool = False,
    ) -> None:
        """Answer the next `times` calls of `method` with a Telegram error.

        429 gets parameters.retry_after (default 1). With after_processing=True the call
        takes effect first (message delivered) and only the answer is an error.
        """
        if status == 429 and retry_after is None:
            retry_after = 1
        text = description or _DEFAULT_DESCRIPTIONS.get(status, f"Error {status}")
        if status == 429 and description is None:
            text = f"Too Many Requests: retry after {retry_after}"
        error = _ApiError(status, text, retry_after)
        self._add_fault(method, _Fault("fail", times, after_processing, error=error))

    def delay_next(
        self, method: str, seconds: float, *, times: int = 1, after_processing: bool = False
    ) -> None:
        """Hold the next calls for `seconds` (before processing, or after it with the flag).

        A client that gives up meanwhile closes the connection; the call is then abandoned
        (status 0) and, unless after_processing, has no effect, like a lost request.
        """
        self._add_fault(method, _Fault("delay", times, after_processing, seconds=seconds))

    def garble_next(self, method: str, *, times: int = 1) -> None:
        """Answer 200 with a result the client cannot read that quotes the call (its chat
        id and text), as a broken proxy might: the client's error then carries them."""
        self._add_fault(method, _Fault("garble", times))

    def drop_next(self, method: str, *, times: int = 1, after_processing: bool = False) -> None:
        """Close the connection without an answer (lost request, or lost answer with flag)."""
        self._add_fault(method, _Fault("drop", times, after_processing))

    def enforce_rate_limits(
        self,
        global_per_second: int | None = 30,
        per_chat_per_second: int | None = 1,
        *,
        per_group_per_minute: int | None = None,
        chat_burst: int = 1,
    ) -> None:
        """Answer sends over the limits with 429 + retry_after (see _RateLimiter)."""
        self._limiter = _RateLimiter(
            global_per_second, per_chat_per_second, per_group_per_minute, chat_burst
        )

    def disable_rate_limits(self) -> None:
        """Back to unlimited sends."""
        self._limiter = None

    def block_user(self, chat_id: int) -> None:
        """Sends/edits to this chat get 403 "bot was blocked by the user" from now on."""
        self._blocked.add(chat_id)

    def unblock_user(self, chat_id: int) -> None:
        """Undo block_user."""
        self._blocked.discard(chat_id)

    def clear_faults(self) -> None:
        """Forget pending injected faults."""
        self._faults.clear()

    # ------------------------------------------------------------------ HTTP plumbing

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        """Entry point for /bot{token}/{method}: record, apply faults, dispatch, answer."""
        name = request.match_info["method"]
        method = self._canonical.get(name.lower(), name)
        try:
            params, files = await self._read_params(request)
        except _ApiError as err:
            call = self._record(Call(method, {}, {}, time.monotonic()))
            return self._reply(call, err.status, err.body())
        call = self._record(Call(method, params, files, time.monotonic()))
        try:
            return await self._answer(call, request)
        finally:
            if call.status is None:
                call.status = 0
            self._touch(call)

    async def _answer(self, call: Call, request: web.Request) -> web.StreamResponse:
        """Apply an injected fault before or after processing the call."""
        fault = self._take_fault(call.method)
        if fault is not None and not fault.after_processing:
            early = await self._apply_fault(fault, call, request)
            if early is not None:
                return early
        status, body = await self._process(call, request.match_info["token"])
        if fault is not None and fault.after_processing:
            early = await self._apply_fault(fault, call, request)
            if early is not None:
                return early
        return self._reply(call, status, body)

    async def _apply_fault(
        self, fault: _Fault, call: Call, request: web.Request
    ) -> web.StreamResponse | None:
        """Perform a fault; returns the response to send instead, or None to go on."""
        if fault.kind == "delay":
            await self._sleep(fault.seconds)
            return None
        if fault.kind == "garble":
            echoed = {"chat": {"id": call.params.get("chat_id")}, "text": call.params.get("text")}
            return self._reply(call, 200, {"ok": True, "result": echoed})
        if fault.kind == "drop":
            call.status = 0
            if request.transport is not None:
                request.transport.close()
            return web.Response(status=500)  # never reaches the closed connection
        assert fault.error is not None
        return self._reply(call, fault.error.status, fault.error.body())

    async def _process(self, call: Call, token: str) -> tuple[int, Json]:
        """Run the method handler; every failure becomes a Telegram-shaped answer."""
        handler = self._handlers.get(call.method)
        if handler is None:
            return 404, _ApiError(404, "Not Found: method not found").body()
        try:
            self._check_rate_limit(call)
            result = handler(call, self._bot_user(token))
            if inspect.isawaitable(result):
                result = await result
        except _ApiError as err:
            return err.status, err.body()
        except Exception as exc:
            logger.exception("fake Telegram bug in %s", call.method)
            self.errors.append(exc)
            return 500, _ApiError(500, f"Internal Server Error: fake bug: {exc!r}").body()
        return 200, {"ok": True, "result": result}

    def _reply(self, call: Call, status: int, body: Json) -> web.Response:
        """Finish the call record and build the JSON answer."""
        call.status, call.response = status, body
        return web.json_response(body, status=status)

    async def _read_params(self, request: web.Request) -> tuple[Json, dict[str, FileField]]:
        """Parse query, JSON, urlencoded or multipart params into values and files."""
        params: Json = {k: _coerce(k, v) for k, v in request.query.items()}
        files: dict[str, FileField] = {}
        if request.content_type == "application/json":
            params.update(await self._read_json(request))
        elif request.can_read_body:
            form = await self._read_form(request)
            for key, value in form.items():
                if isinstance(value, web.FileField):
                    files[key] = (value.filename, value.file.read())
                else:
                    params[key] = _coerce(key, str(value))
        return params, _resolve_attachments(params, files)

    @staticmethod
    async def _read_form(request: web.Request) -> Any:
        """A malformed or oversized body is the client's fault: 400/413, not a crash."""
        try:
            return await request.post()
        except web.HTTPRequestEntityTooLarge:
            raise _ApiError(413, "Request Entity Too Large") from None
        except (ValueError, UnicodeDecodeError, aiohttp.ClientPayloadError):
            raise _ApiError(400, "Bad Request: can't parse request body") from None

    @staticmethod
    async def _read_json(request: web.Request) -> Json:
        """A JSON body must be an object; anything else is a 400 like Telegram's."""
        raw = await request.read()
        if not raw:
            return {}
        try:
            body = json.loads(raw)
        except ValueError:
            raise _ApiError(400, "Bad Request: can't parse JSON") from None
        if not isinstance(body, dict):
            raise _ApiError(400, "Bad Request: JSON body must be an object")
        return body

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        """Serve files (uploaded by the bot or pushed by users) at their getFile path."""
        file_id = self._file_paths.get(request.match_info["path"])
        if file_id is None:
            return web.json_response(_ApiError(404, "Not Found").body(), status=404)
        _, data, mime = self._files[file_id]
        return web.Response(body=data, content_type=mime)

    # ------------------------------------------------------------------ internals

    def _record(self, call: Call) -> Call:
        self.calls.append(call)
        self._touch(call)
        return call

    def _touch(self, call: Call) -> None:
        """Wake waiters; long polls aren't "activity" for wait_idle."""
        if call.method != "getUpdates":
            self._last_activity = time.monotonic()
        self._notify()

    def _notify(self) -> None:
        """Wake everything waiting for a state change (long polls, wait_for)."""
        self._changed.set()
        self._changed = asyncio.Event()

    async def _wait_change(self, seconds: float) -> None:
        """Sleep until the next state change or `seconds`, whichever comes first."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), seconds)

    async def _sleep(self, seconds: float) -> None:
        """A delay that stop() cuts short, so shutdown never waits on injected delays."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    def _add_fault(self, method: str, fault: _Fault) -> None:
        name = self._canonical.get(method.lower(), method)
        self._faults.setdefault(name, []).append(fault)

    def _take_fault(self, method: str) -> _Fault | None:
        queue = self._faults.get(method)
        if not queue:
            return None
        fault = queue[0]
        fault.times -= 1
        if fault.times <= 0:
            queue.pop(0)
        return fault

    def _check_rate_limit(self, call: Call) -> None:
        if self._limiter is None or call.method not in SEND_METHODS:
            return
        retry_after = self._limiter.admit(call.chat_id, time.monotonic())
        if retry_after is not None:
            self.rate_limited_count += 1
            text = f"Too Many Requests: retry after {retry_after}"
            raise _ApiError(429, text, retry_after)

    def _bot_user(self, token: str) -> Json:
        """The bot identity follows the token, as aiogram derives bot.id from it."""
        head = token.split(":", 1)[0]
        bot_id = int(head) if head.isdigit() else 123456
        return {"id": bot_id, "is_bot": True, "first_name": "Test Bot", "username": "test_bot"}

    def _chat(self, chat_id: int) -> Json:
        return copy.deepcopy(self._chats.get(chat_id) or _default_chat(chat_id))

    def _next_mid(self, chat_id: int) -> int:
        """Message ids grow per chat, shared by user and bot messages as in Telegram."""
        value = self._next_message_id.get(chat_id, 1)
        self._next_message_id[chat_id] = value + 1
        return value

    def _user_message(
        self, user_id: int, chat_id: int | None, chat_type: str, sender: Json
    ) -> Json:
        """Common part of a message written by a user; remembers the chat for replies."""
        chat_key = chat_id if chat_id is not None else user_id
        if chat_type == "private":
            chat = {"id": chat_key, "type": "private", "first_name": sender["first_name"]}
        else:
            chat_key = chat_id if chat_id is not None else -user_id
            chat = {"id": chat_key, "type": chat_type, "title": f"Test {chat_type}"}
        self._chats[chat_key] = chat
        mid = self._next_mid(chat_key)
        self._last_user_message[chat_key] = mid
        return {"message_id": mid, "date": int(time.time()), "chat": dict(chat), "from": sender}

    def _callback_message(self, chat_id: int, message_id: int | None) -> Json | None:
        if message_id is None:
            return None
        stored = self._bot_messages.get(chat_id, {}).get(message_id)
        if stored is not None:
            return copy.deepcopy(stored)
        return {"chat": self._chat(chat_id), "message_id": message_id, "date": 0}

    def _store_file(self, name: str, data: bytes, mime: str | None) -> str:
        """Keep file bytes so getFile and re-sending by file_id work."""
        n = next(self._ids)
        file_id = f"FILE{n:06d}{hashlib.sha1(data).hexdigest()[:12]}"
        mime = mime or mimetypes.guess_type(name)[0] or "application/octet-stream"
        self._files[file_id] = (name, data, mime)
        self._file_paths[f"documents/file_{n}{_suffix(name)}"] = file_id
        return file_id

    def _file_path(self, file_id: str) -> str:
        return next(path for path, fid in self._file_paths.items() if fid == file_id)

    def _photo_sizes(self, file_id: str) -> list[Json]:
        size = len(self._files[file_id][1])
        return [
            {
                "file_id": f"{file_id}s",
                "file_unique_id": f"u{file_id}s",
                "width": 90,
                "height": 90,
                "file_size": min(size, 1000),
            },
            {
                "file_id": file_id,
                "file_unique_id": f"u{file_id}",
                "width": 800,
                "height": 600,
                "file_size": size,
            },
        ]

    # ------------------------------------------------------------------ Bot API methods

    def _method_table(self) -> dict[str, Handler]:
        return {
            "getMe": lambda call, bot: {
                **bot,
                "can_join_groups": True,
                "can_read_all_group_messages": False,
                "supports_inline_queries": False,
            },
            "getUpdates": self._get_updates,
            "sendMessage": self._send_message,
            "editMessageText": self._edit_message_text,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "deleteMessage": self._delete_message,
            "answerCallbackQuery": self._answer_callback_query,
            "sendDocument": self._send_document,
            "sendPhoto": self._send_photo,
            "sendChatAction": self._send_chat_action,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": lambda call, bot: self._commands.get(_commands_key(call.params), []),
            "deleteMyCommands": self._delete_my_commands,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "getFile": self._get_file,
            "close": lambda call, bot: True,
            "logOut": lambda call, bot: True,
        }

    async def _get_updates(self, call: Call, bot: Json) -> list[Json]:
        """Real long polling: confirm below offset, return as soon as updates are queued.

        A newer getUpdates ends an older pending one with 409, as Telegram does when two
        bot instances poll at once.
        """
        if self._webhook.get("url"):
            raise _ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is "
                "active; use deleteWebhook to delete the webhook first",
            )
        params = call.params
        self._confirm(_int_param(params, "offset", 0))
        if isinstance(params.get("allowed_updates"), list):
            self._allowed_updates = params["allowed_updates"] or None
        limit = max(1, min(100, _int_param(params, "limit", 100)))
        deadline = time.monotonic() + _poll_timeout(params)
        self._poll_generation += 1
        generation = self._poll_generation
        self._notify()
        while True:
            if generation != self._poll_generation:
                raise _ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; "
                    "make sure that only one bot instance is running",
                )
            ready = self._deliverable(limit)
            remaining = deadline - time.monotonic()
            if ready or remaining <= 0 or self._stopping.is_set():
                return ready
            await self._wait_change(remaining)

    def _confirm(self, offset: int) -> None:
        """offset > 0 forgets updates below it; offset < 0 keeps only the last -offset."""
        if offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        elif offset < 0:
            self._updates = self._updates[offset:]

    def _deliverable(self, limit: int) -> list[Json]:
        """Updates of allowed types; disallowed ones are discarded as Telegram does."""
        allowed = self._allowed_updates
        if allowed is not None:
            self._updates = [u for u in self._updates if _update_type(u) in allowed]
        return copy.deepcopy(self._updates[:limit])

    def _target_chat(self, params: Json) -> int:
        chat_id = params.get("chat_id")
        if chat_id is None or chat_id == "":
            raise _ApiError(400, "Bad Request: chat_id is empty")
        if not isinstance(chat_id, int):
            raise _ApiError(400, "Bad Request: chat not found")
        if chat_id in self._blocked:
            raise _ApiError(403, "Forbidden: bot was blocked by the user")
        return chat_id

    def _new_bot_message(self, params: Json, bot: Json) -> Json:
        """Create, store and return a bot message in the target chat."""
        chat_id = self._target_chat(params)
        markup = params.get("reply_markup")
        _check_markup(markup)
        message: Json = {
            "message_id": self._next_mid(chat_id),
            "date": int(time.time()),
            "chat": self._chat(chat_id),
            "from": dict(bot),
        }
        if _is_inline_markup(markup):
            message["reply_markup"] = markup
        self._bot_messages.setdefault(chat_id, {})[message["message_id"]] = message
        return message

    def _send_message(self, call: Call, bot: Json) -> Json:
        text = _checked_text(call.params, "text", MAX_TEXT)
        message = self._new_bot_message(call.params, bot)
        message["text"] = text
        if isinstance(call.params.get("entities"), list):
            message["entities"] = call.params["entities"]
        return copy.deepcopy(message)

    def _send_document(self, call: Call, bot: Json) -> Json:
        caption = _checked_caption(call.params)
        file_id = self._input_file(call, "document", "document")
        name, data, mime = self._files[file_id]
        message = self._new_bot_message(call.params, bot)
        message["document"] = {
            "file_id": file_id,
            "file_unique_id": f"u{file_id}",
            "file_name": name,
            "mime_type": mime,
            "file_size": len(data),
        }
        if caption:
            message["caption"] = caption
        return copy.deepcopy(message)

    def _send_photo(self, call: Call, bot: Json) -> Json:
        caption = _checked_caption(call.params)
        file_id = self._input_file(call, "photo", "photo.jpg")
        message = self._new_bot_message(call.params, bot)
        message["photo"] = self._photo_sizes(file_id)
        if caption:
            message["caption"] = caption
        return copy.deepcopy(message)

    def _input_file(self, call: Call, field_name: str, default_name: str) -> str:
        """An upload, a known file_id, or a URL (not fetched) -> a stored file_id."""
        if field_name in call.files:
            name, data = call.files[field_name]
            return self._store_file(name or default_name, data, None)
        ref = call.params.get(field_name)
        if isinstance(ref, str) and ref in self._files:
            return ref
        if isinstance(ref, str) and ref.startswith(("http://", "https://")):
            return self._store_file(ref.rsplit("/", 1)[-1] or default_name, b"", None)
        raise _ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")

    def _stored_message(self, params: Json) -> tuple[int, Json] | None:
        """The bot message an edit refers to; None for inline messages (not stored)."""
        if params.get("inline_message_id") and "chat_id" not in params:
            return None
        chat_id = self._target_chat(params)
        message_id = _int_param(params, "message_id")
        message = self._bot_messages.get(chat_id, {}).get(message_id)
        if message is None:
            raise _ApiError(400, "Bad Request: message to edit not found")
        return chat_id, message

    def _edit_message_text(self, call: Call, bot: Json) -> Json | bool:
        text = _checked_text(call.params, "text", MAX_TEXT)
        markup = call.params.get("reply_markup")
        _check_markup(markup)
        target = self._stored_message(call.params)
        if target is None:
            return True
        _, message = target
        new_markup = markup if _is_inline_markup(markup) else None
        if message.get("text") == text and message.get("reply_markup") == new_markup:
            raise _ApiError(400, _NOT_MODIFIED)
        message["text"] = text
        _set_markup(message, new_markup)
        message["edit_date"] = int(time.time())
        return copy.deepcopy(message)

    def _edit_message_reply_markup(self, call: Call, bot: Json) -> Json | bool:
        markup = call.params.get("reply_markup")
        _check_markup(markup)
        target = self._stored_message(call.params)
        if target is None:
            return True
        _, message = target
        new_markup = markup if _is_inline_markup(markup) else None
        if message.get("reply_markup") == new_markup:
            raise _ApiError(400, _NOT_MODIFIED)
        _set_markup(message, new_markup)
        message["edit_date"] = int(time.time())
        return copy.deepcopy(message)

    def _delete_message(self, call: Call, bot: Json) -> bool:
        chat_id = self._target_chat(call.params)
        message_id = _int_param(call.params, "message_id")
        if self._bot_messages.get(chat_id, {}).pop(message_id, None) is None:
            raise _ApiError(400, "Bad Request: message to delete not found")
        return True

    def _answer_callback_query(self, call: Call, bot: Json) -> bool:
        """Unknown or already answered query ids fail like on Telegram."""
        query_id = str(call.params.get("callback_query_id", ""))
        if query_id not in self._open_callbacks:
            raise _ApiError(
                400,
                "Bad Request: query is too old and response timeout expired or query ID is invalid",
            )
        self._open_callbacks.discard(query_id)
        text = call.params.get("text")
        if isinstance(text, str) and len(text) > 200:
            raise _ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        return True

    def _send_chat_action(self, call: Call, bot: Json) -> bool:
        self._target_chat(call.params)
        if not call.params.get("action"):
            raise _ApiError(400, "Bad Request: action is empty")
        return True

    def _set_my_commands(self, call: Call, bot: Json) -> bool:
        commands = call.params.get("commands")
        if not isinstance(commands, list):
            raise _ApiError(400, "Bad Request: commands must be an array")
        for command in commands:
            _check_command(command)
        self._commands[_commands_key(call.params)] = commands
        return True

    def _delete_my_commands(self, call: Call, bot: Json) -> bool:
        self._commands.pop(_commands_key(call.params), None)
        return True

    def _set_webhook(self, call: Call, bot: Json) -> bool:
        url = call.params.get("url") or ""
        if url and not str(url).startswith("https://"):
            raise _ApiError(400, "Bad Request: bad webhook: HTTPS url must be provided for webhook")
        self._webhook = {"url": url, "secret_token": call.params.get("secret_token")}
        if call.params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    def _delete_webhook(self, call: Call, bot: Json) -> bool:
        self._webhook = {"url": ""}
        if call.params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    def _get_webhook_info(self, call: Call, bot: Json) -> Json:
        return {
            "url": self._webhook.get("url") or "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }

    def _get_file(self, call: Call, bot: Json) -> Json:
        file_id = str(call.params.get("file_id", ""))
        if file_id.endswith("s") and file_id[:-1] in self._files:
            file_id = file_id[:-1]  # small photo size shares the big one's bytes
        if file_id not in self._files:
            raise _ApiError(400, "Bad Request: invalid file_id")
        data = self._files[file_id][1]
        return {
            "file_id": file_id,
            "file_unique_id": f"u{file_id}",
            "file_size": len(data),
            "file_path": self._file_path(file_id),
        }


# ---------------------------------------------------------------------- helpers


def _safe(predicate: Callable[[Call], bool] | None, call: Call) -> bool:
    """A predicate that trips over a call lacking a field simply doesn't match it."""
    if predicate is None:
        return True
    try:
        return bool(predicate(call))
    except (KeyError, IndexError, TypeError, AttributeError):
        return False


def _short(value: Any, width: int = 60) -> Any:
    """Keep the failure summary readable when a call carries a long text."""
    text = value if isinstance(value, str) else None
    if text is not None and len(text) > width:
        return text[: width - 3] + "..."
    return value


def _resolve_attachments(params: Json, files: dict[str, FileField]) -> dict[str, FileField]:
    """Map aiogram's `field="attach://part"` to files[field]; PTB already uses the field."""
    resolved = dict(files)
    for key, value in list(params.items()):
        if isinstance(value, str) and value.startswith("attach://"):
            part = value.removeprefix("attach://")
            if part in resolved:
                resolved[key] = resolved.pop(part)
                del params[key]
    return resolved


def _checked_text(params: Json, name: str, limit: int) -> str:
    text = params.get(name)
    if not isinstance(text, str) or not text.strip():
        raise _ApiError(400, "Bad Request: message text is empty")
    if _utf16_len(_visible_text(text, params.get("parse_mode"))) > limit:
        raise _ApiError(400, "Bad Request: message is too long")
    return text


def _checked_caption(params: Json) -> str | None:
    caption = params.get("caption")
    if caption is None:
        return None
    caption = str(caption)
    if _utf16_len(_visible_text(caption, params.get("parse_mode"))) > MAX_CAPTION:
        raise _ApiError(400, "Bad Request: message caption is too long")
    return caption


def _set_markup(message: Json, markup: Json | None) -> None:
    if markup is None:
        message.pop("reply_markup", None)
    else:
        message["reply_markup"] = markup


def _check_command(command: Any) -> None:
    """Telegram's rules for BotCommand: 1-32 chars of a-z0-9_, description 1-256."""
    if not isinstance(command, dict):
        raise _ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
    name = str(command.get("command", ""))
    if not re.fullmatch(r"[a-z0-9_]{1,32}", name):
        raise _ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
    if not 1 <= len(str(command.get("description", ""))) <= 256:
        raise _ApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")


def _commands_key(params: Json) -> str:
    """Commands are stored per (scope, language_code), as Telegram does."""
    scope = params.get("scope") or {"type": "default"}
    return json.dumps([scope, params.get("language_code") or ""], sort_keys=True)


def _poll_timeout(params: Json) -> float:
    """getUpdates timeout in seconds; PTB may send a float."""
    try:
        return max(0.0, float(params.get("timeout") or 0))
    except (TypeError, ValueError):
        raise _ApiError(400, "Bad Request: invalid timeout specified") from None


def _update_type(update: Json) -> str:
    return next((key for key in update if key != "update_id"), "")


def _suffix(name: str) -> str:
    match = re.search(r"\.[A-Za-z0-9]{1,8}$", name)
    return match.group(0) if match else ""
