"""The terminal channel: buttons are numbered, typing a number presses one.

Reads one input per line, interactively or from a pipe, and ends at end of input.
Imports no chat framework, so it starts fast.
"""

from __future__ import annotations

import asyncio
import sys
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, TextIO

from bot.conversation import EventKind, FlowEngine, Incoming, Outcome, Reply
from bot.render.i18n import Translator, locale_for
from core.domain.customer import IdentityKind
from core.services.customers import find_customer

__all__ = ["ConsoleChat", "ConsoleSender", "run_console"]

CHANNEL = "console"
# How long an export saved by the terminal stays on disk (the chat's copy is not ours).
EXPORTS_KEPT = timedelta(days=7)


@dataclass
class ConsoleChat:
    """Turns lines into events and outcomes into printed text."""

    engine: FlowEngine
    out: TextIO
    user_id: int = 1
    language_code: str | None = None
    files: Path | None = None  # where documents are saved (a terminal cannot show one)
    _buttons: dict[int, tuple[str, int]] = field(default_factory=dict)
    _keyboard: str = ""  # the last keyboard, as printed
    _message_id: int = 0

    def save(self, name: str, content: bytes) -> Path | str:
        """Write a document where the terminal user can open it; never over another."""
        if self.files is None:
            return f"{name} ({len(content)} bytes)"
        self.files.mkdir(parents=True, exist_ok=True)
        path = self.files / Path(name).name
        n = 1
        while path.exists():
            n += 1
            path = self.files / f"{Path(name).stem}-{n}{Path(name).suffix}"
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
        if text.isdigit() and len(text) <= 3:  # a button number, but no such button
            return None
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

    async def forget_exports(self, *, older_than: timedelta = EXPORTS_KEPT) -> int:
        """Exports saved here go with the terminal user's erasure, and expire anyway:
        a file on disk must not outlive what the shop itself deleted."""
        if self.files is None or not self.files.is_dir():
            return 0
        async with self.engine.core.uow() as uow:
            erased = await find_customer(IdentityKind.TELEGRAM, str(self.user_id), uow) is None
        cutoff = time.time() - older_than.total_seconds()
        gone = [p for p in self.files.glob("my-data-*") if erased or p.stat().st_mtime < cutoff]
        for path in gone:
            path.unlink(missing_ok=True)
        return len(gone)

    async def send(self, line: str) -> Outcome | None:
        await self.forget_exports()
        event = self.event_for(line)
        if event is None:
            if line.strip().isdigit():
                self._no_such_button(int(line.strip()))
            return None
        outcome = await self.engine.handle(event)
        self.show(outcome, pressed=event.message_id)
        return outcome

    def _no_such_button(self, number: int) -> None:
        """One line, then the keyboard the numbers belong to, again."""
        if not self._buttons:
            self.out.write(f"  {self.t('console.no_keyboard')}\n")
        else:
            self.out.write(f"  {self.t('console.no_such_button', n=number)}\n")
            self.out.write(self._keyboard + "\n")
        self.out.flush()

    def show(self, outcome: Outcome, pressed: int | None) -> None:
        if outcome.notice:
            self.out.write(f"  ({outcome.notice})\n")
        numbered: dict[int, tuple[str, int]] = {}
        keyboard: list[str] = []
        for reply in outcome.replies:
            if reply.edit and pressed is not None:
                message_id = pressed
            else:
                self._message_id += 1
                message_id = self._message_id
            self.out.write(f"\n{reply.text}\n")
            keyboard += self._rows(reply, message_id, numbered)
            self._attachments(reply)
        if outcome.replies:
            # Numbers press only the keyboard last shown; a reply without one (an edit
            # that took it away, too) leaves no number to press.
            self._buttons, self._keyboard = numbered, "\n".join(keyboard)
            if numbered:
                self.out.write(f"  {self.t('console.numbers_hint', last=len(numbered))}\n")
        self.out.flush()

    def _rows(
        self, reply: Reply, message_id: int, numbered: dict[int, tuple[str, int]]
    ) -> list[str]:
        printed = []
        for row in reply.buttons:
            labels = []
            for button in row:
                number = len(numbered) + 1
                numbered[number] = (button.data, message_id)
                labels.append(f"[{number}] {button.text}")
            printed.append("   " + "   ".join(labels))
            self.out.write(printed[-1] + "\n")
        return printed

    def _attachments(self, reply: Reply) -> None:
        if reply.document is not None:
            self.out.write(f"  -> {self.save(*reply.document)}\n")
        if reply.photo is not None:
            self.out.write(f"  -> {self.save('chart.png', reply.photo)}\n")
        if reply.ask_contact:
            self.out.write(f"  {self.t('console.contact_hint')}\n")


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

    files = engine.core.settings.data_dir / "exports" / str(user_id)  # one folder per user
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
        await chat.forget_exports()  # an erasure that finished after the last line
