"""One way to talk to the bot, whatever the channel: console, aiogram or PTB.

A driver sends what a person would (a command, some text, a button press, a
shared contact) and waits until the bot has finished answering; ``messages``
is then the chat as the person sees it (edits applied).
"""

from __future__ import annotations

import asyncio
import importlib
import io
import socket
from dataclasses import dataclass, field
from typing import Any, Protocol

from bot.channels.console import ConsoleChat
from bot.conversation import EventKind, FlowEngine, Incoming
from bot.runner import run_bot
from bot.settings import BotSettings
from core.app import PrivacyCore
from tests.fake_telegram import FakeTelegram


@dataclass
class Msg:
    id: int
    text: str
    buttons: list[tuple[str, str]] = field(default_factory=list)  # (label, payload)
    document: tuple[str, bytes] | None = None  # (file name, content) of a sent file

    def labels(self) -> list[str]:
        return [label for label, _ in self.buttons]


class Driver(Protocol):
    user_id: int
    notice: str | None
    channel: str  # the app the person writes in: "console", "telegram", "whatsapp"

    async def send(self, text: str) -> None: ...
    async def press(self, label: str) -> None: ...
    async def press_raw(self, data: str, message_id: int | None) -> None: ...
    async def share_contact(self, phone: str, contact_user_id: int | None = None) -> None: ...
    async def close(self) -> None: ...
    @property
    def messages(self) -> list[Msg]: ...


def find_button(messages: list[Msg], label: str) -> tuple[Msg, str]:
    """The newest message having a button whose label contains ``label``."""
    for msg in reversed(messages):
        for text, data in msg.buttons:
            if label in text:
                return msg, data
    shown = [m.labels() for m in messages[-3:]]
    raise AssertionError(f"no button {label!r} in the last messages: {shown}")


class ConsoleDriver:
    channel = "console"

    def __init__(self, core: PrivacyCore, user_id: int, language_code: str = "en") -> None:
        self.user_id = user_id
        self.language_code = language_code
        self.notice: str | None = None
        self._chat = ConsoleChat(FlowEngine(core), io.StringIO(), user_id, language_code)
        self._messages: list[Msg] = []
        self._next_id = 0

    @property
    def messages(self) -> list[Msg]:
        return self._messages

    async def _handle(self, event: Incoming) -> None:
        outcome = await self._chat.engine.handle(event)
        self.notice = outcome.notice if event.kind is EventKind.BUTTON else self.notice
        for reply in outcome.replies:
            buttons = [(b.text, b.data) for row in reply.buttons for b in row]
            target = next((m for m in self._messages if m.id == event.message_id), None)
            if reply.edit and target is not None:
                target.text, target.buttons = reply.text, buttons
                continue
            self._next_id += 1
            self._messages.append(Msg(self._next_id, reply.text, buttons, reply.document))

    def _event(self, **fields: Any) -> Incoming:
        return Incoming(
            user_id=self.user_id,
            chat_id=self.user_id,
            language_code=self.language_code,
            channel="console",
            **fields,
        )

    async def send(self, text: str) -> None:
        event = self._chat.event_for(text)
        assert event is not None
        await self._handle(event)

    async def press(self, label: str) -> None:
        msg, data = find_button(self._messages, label)
        await self.press_raw(data, msg.id)

    async def press_raw(self, data: str, message_id: int | None) -> None:
        await self._handle(self._event(kind=EventKind.BUTTON, data=data, message_id=message_id))

    async def share_contact(self, phone: str, contact_user_id: int | None = None) -> None:
        owner = self.user_id if contact_user_id is None else contact_user_id
        await self._handle(
            self._event(kind=EventKind.CONTACT, contact_phone=phone, contact_user_id=owner)
        )

    async def close(self) -> None:
        return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Processed:
    """Counts updates the adapter has fully answered (the test hook on ``deliver``)."""

    def __init__(self) -> None:
        self.count = 0
        self._changed = asyncio.Condition()

    async def bump(self) -> None:
        async with self._changed:
            self.count += 1
            self._changed.notify_all()

    async def wait_for(self, count: int) -> None:
        async with asyncio.timeout(15), self._changed:
            await self._changed.wait_for(lambda: self.count >= count)


_ADAPTERS = {
    "aiogram": "bot.channels.aiogram_bot",
    "ptb": "bot.channels.ptb_bot",
    "whatsapp": "bot.channels.whatsapp",
}


def hook_deliver(monkeypatch: Any, framework: str) -> Processed:
    """Wrap the adapter's ``deliver`` so tests know when an update is done."""
    module = importlib.import_module(_ADAPTERS[framework])
    processed = Processed()
    original = module.deliver

    async def deliver(*args: Any, **kwargs: Any) -> None:
        try:
            await original(*args, **kwargs)
        finally:
            await processed.bump()

    monkeypatch.setattr(module, "deliver", deliver)
    return processed


class TelegramDriver:
    """Runs ``privacy-bot run`` (in-process) against the fake Bot API server."""

    channel = "telegram"

    def __init__(
        self,
        core: PrivacyCore,
        fake: FakeTelegram,
        framework: str,
        processed: Processed,
        user_id: int,
        language_code: str = "en",
    ) -> None:
        self.core, self.fake, self.framework = core, fake, framework
        self.processed = processed
        self.user_id, self.language_code = user_id, language_code
        self.notice: str | None = None
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.http_port = free_port()

    def settings(self, **overrides: Any) -> BotSettings:
        values: dict[str, Any] = {
            "core": self.core.settings,
            "token": self.fake.token,
            "api_base": self.fake.api_base,
            "webhook_url": None,
            "webhook_secret": None,
            "http_host": "127.0.0.1",
            "http_port": self.http_port,
            "followup_delay": 3600,
        }
        values.update(overrides)
        return BotSettings(**values)

    async def start(self, **overrides: Any) -> TelegramDriver:
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(
            run_bot(
                self.core, self.settings(**overrides), framework=self.framework, stop=self._stop
            )
        )
        method = "setWebhook" if overrides.get("webhook_url") else "getUpdates"
        async with asyncio.timeout(30):
            # A long poll in flight means the bot is ready (its answer may take seconds).
            while not self.fake.calls_to(method):
                await asyncio.sleep(0.01)
        return self

    async def close(self) -> None:
        self._stop.set()
        if self._task is not None:
            # Generous: under a loaded CI a job claim may wait out SQLite's busy timeout.
            await asyncio.wait_for(self._task, timeout=60)
            self._task = None

    async def restart(self) -> None:
        await self.close()
        await self.start()

    @property
    def messages(self) -> list[Msg]:
        result = []
        for raw in self.fake.messages(self.user_id):
            markup = raw.get("reply_markup") or {}
            buttons = [
                (b["text"], b.get("callback_data", ""))
                for row in markup.get("inline_keyboard", [])
                for b in row
            ]
            text = raw.get("text") or raw.get("caption") or ""
            document = None
            if isinstance(raw.get("document"), dict):
                name, data, _mime = self.fake._files[raw["document"]["file_id"]]
                document = (name, data)
            result.append(Msg(raw["message_id"], text, buttons, document))
        return result

    async def _settle(self, target: int) -> None:
        await self.processed.wait_for(target)

    async def send(self, text: str) -> None:
        before = self.processed.count + 1
        if text.startswith("/"):
            self.fake.push_command(self.user_id, text, language_code=self.language_code)
        else:
            self.fake.push_message(self.user_id, text, language_code=self.language_code)
        await self._settle(before)

    async def press(self, label: str) -> None:
        msg, data = find_button(self.messages, label)
        await self.press_raw(data, msg.id)

    async def press_raw(self, data: str, message_id: int | None) -> None:
        before = self.processed.count + 1
        self.fake.push_callback(
            self.user_id, data, message_id=message_id, language_code=self.language_code
        )
        await self._settle(before)
        self.notice = self.fake.calls_to("answerCallbackQuery")[-1].params.get("text")

    async def share_contact(self, phone: str, contact_user_id: int | None = None) -> None:
        before = self.processed.count + 1
        self.fake.push_contact(self.user_id, phone, contact_user_id=contact_user_id)
        await self._settle(before)
