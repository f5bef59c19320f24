"""The terminal channel: buttons are numbered, typing a number presses one.

Reads one input per line, interactively or from a pipe, and ends at end of input.
Imports no chat framework, so it starts fast.
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from bot.conversation import EventKind, FlowEngine, Incoming, Outcome, Reply
from bot.render.i18n import Translator, locale_for

__all__ = ["ConsoleChat", "ConsoleSender", "run_console"]

CHANNEL = "console"


@dataclass
class ConsoleChat:
    """Turns lines into events and outcomes into printed text."""

    engine: FlowEngine
    out: TextIO
    user_id: int = 1
    language_code: str | None = None
    files: Path | None = None  # where documents are saved (a terminal cannot show one)
    _buttons: dict[int, tuple[str, int]] = field(default_factory=dict)
    _message_id: int = 0

    def save(self, name: str, content: bytes) -> Path | str:
        if self.files is None:
            return f"{name} ({len(content)} bytes)"
        self.files.mkdir(parents=True, exist_ok=True)
        path = self.files / Path(name).name
        path.write_bytes(content)
        path.chmod(0o600)
        return path

    @property
    def t(self) -> Translator:
        return Translator(locale_for(self.language_code))

    def event_for(self, line: str) -> Incoming | None:
        text = line.strip()
        if not text:
            return None
        common: dict[str, Any] = {
            "user_id": self.user_id,
            "chat_id": self.user_id,
            "channel": CHANNEL,
            "language_code": self.language_code,
        }
        if text.isdigit() and int(text) in self._buttons:
            data, message_id = self._buttons[int(text)]
            return Incoming(kind=EventKind.BUTTON, data=data, message_id=message_id, **common)
        if text.lower().startswith("contact "):
            # Telegram's "share my contact" button, typed: the sender's own number.
            phone = text[8:].strip()
            return Incoming(
                kind=EventKind.CONTACT, contact_phone=phone, contact_user_id=self.user_id, **common
            )
        if text.startswith("/"):
            name, _, args = text[1:].partition(" ")
            return Incoming(kind=EventKind.COMMAND, text=name.lower(), args=args.strip(), **common)
        return Incoming(kind=EventKind.TEXT, text=text, **common)

    async def send(self, line: str) -> Outcome | None:
        event = self.event_for(line)
        if event is None:
            return None
        outcome = await self.engine.handle(event)
        self.show(outcome, pressed=event.message_id)
        return outcome

    def show(self, outcome: Outcome, pressed: int | None) -> None:
        if outcome.notice:
            self.out.write(f"  ({outcome.notice})\n")
        numbered: dict[int, tuple[str, int]] = {}
        for reply in outcome.replies:
            if reply.edit and pressed is not None:
                message_id = pressed
            else:
                self._message_id += 1
                message_id = self._message_id
            self.out.write(f"\n{reply.text}\n")
            for row in reply.buttons:
                labels = []
                for button in row:
                    number = len(numbered) + 1
                    numbered[number] = (button.data, message_id)
                    labels.append(f"[{number}] {button.text}")
                self.out.write("   " + "   ".join(labels) + "\n")
            if reply.document is not None:
                self.out.write(f"  -> {self.save(*reply.document)}\n")
            if reply.ask_contact:
                self.out.write(f"  {self.t('console.contact_hint')}\n")
        if numbered:
            self._buttons = numbered
        self.out.flush()


@dataclass
class ConsoleSender:
    """The Sender behind the terminal's outbound path: what the bot sends on its own
    (notices, follow-ups, exports) is printed here."""

    chat: ConsoleChat

    async def send_text(self, chat_id: int, reply: Reply) -> None:
        self.chat.show(Outcome(replies=[reply]), pressed=None)

    async def edit_text(self, chat_id: int, message_id: int, reply: Reply) -> bool:
        return False

    async def send_document(self, chat_id: int, name: str, content: bytes, caption: str) -> None:
        await self.send_text(chat_id, Reply(text=caption, document=(name, content)))

    async def send_photo(self, chat_id: int, content: bytes, caption: str) -> None:
        await self.send_document(chat_id, "chart.png", content, caption)

    async def answer_callback(self, callback_id: str, text: str | None, alert: bool) -> None:
        return None


async def run_console(
    engine: FlowEngine,
    stdin: TextIO = sys.stdin,
    out: TextIO = sys.stdout,
    *,
    user_id: int = 1,
    language_code: str | None = None,
) -> None:
    """The chat, plus the job worker, so notices and exports reach this terminal too."""
    import bot.background.rights_jobs  # noqa: F401  (registers the data-rights job handlers)
    from bot.background.outreach import start_background
    from bot.http.metrics import Metrics
    from bot.outbound import Outbound

    files = engine.core.settings.data_dir / "exports"
    chat = ConsoleChat(engine, out, user_id, language_code, files)
    out.write(chat.t("console.banner") + "\n")
    out.flush()
    metrics = Metrics()
    outbound = Outbound(ConsoleSender(chat), metrics=metrics)
    background = start_background(engine.core, outbound, metrics, daily=False)
    loop = asyncio.get_running_loop()
    try:
        while True:
            line = await loop.run_in_executor(None, stdin.readline)
            if not line:  # end of input
                return
            await chat.send(line)
    finally:
        await background.stop()
