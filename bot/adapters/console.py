"""The terminal channel: buttons are numbered, typing a number presses one.

Reads one input per line, interactively or from a pipe, and ends at end of input.
Imports no chat framework, so it starts fast.
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass, field
from typing import Any, TextIO

from bot.flows import EventKind, FlowEngine, Incoming, Outcome
from bot.i18n import Translator, locale_for

__all__ = ["ConsoleChat", "run_console"]

CHANNEL = "console"


@dataclass
class ConsoleChat:
    """Turns lines into events and outcomes into printed text."""

    engine: FlowEngine
    out: TextIO
    user_id: int = 1
    language_code: str | None = None
    _buttons: dict[int, tuple[str, int]] = field(default_factory=dict)
    _message_id: int = 0

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
                self.out.write(f"  [file: {reply.document[0]}, {len(reply.document[1])} bytes]\n")
        if numbered:
            self._buttons = numbered
        self.out.flush()


async def run_console(
    engine: FlowEngine,
    stdin: TextIO = sys.stdin,
    out: TextIO = sys.stdout,
    *,
    user_id: int = 1,
    language_code: str | None = None,
) -> None:
    chat = ConsoleChat(engine, out, user_id, language_code)
    out.write(Translator(locale_for(language_code))("console.banner") + "\n")
    out.flush()
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, stdin.readline)
        if not line:  # end of input
            return
        await chat.send(line)
