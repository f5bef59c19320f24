"""Senders for the outbound path: the real adapters' (pointed at the fake Telegram
server), and one that records what it was asked to send."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from bot.conversation.events import Reply
from bot.outbound import Outbound, Sender
from tests.fake_telegram import FakeTelegram


@asynccontextmanager
async def real_sender(framework: str, fake: FakeTelegram) -> AsyncIterator[Sender]:
    """The framework's own sender, as ``privacy-bot run`` would use it."""
    engine: Any = None  # the senders never touch the flow engine
    if framework == "ptb":
        from bot.channels.ptb_bot import PtbAdapter

        ptb = PtbAdapter(engine, fake.token, fake.api_base)
        await ptb._ensure_started()
        try:
            yield ptb.sender
        finally:
            await ptb.close()
    else:
        from bot.channels.aiogram_bot import AiogramAdapter

        aiogram = AiogramAdapter(engine, fake.token, fake.api_base)
        try:
            yield aiogram.sender
        finally:
            await aiogram.close()


@dataclass
class RecordingSender:
    """A Sender that keeps every message it was asked to send, in order."""

    sent: list[tuple[int, Reply]] = field(default_factory=list)

    @property
    def texts(self) -> list[tuple[int, str]]:
        return [(chat, reply.text) for chat, reply in self.sent if reply.document is None]

    @property
    def documents(self) -> list[tuple[int, str, bytes]]:
        return [(chat, *reply.document) for chat, reply in self.sent if reply.document]

    async def send_text(self, chat_id: int, reply: Reply) -> None:
        self.sent.append((chat_id, reply))

    async def edit_text(self, chat_id: int, message_id: int, reply: Reply) -> bool:
        return False

    async def send_document(self, chat_id: int, name: str, content: bytes, caption: str) -> None:
        self.sent.append((chat_id, Reply(text=caption, document=(name, content))))

    async def send_photo(self, chat_id: int, content: bytes, caption: str) -> None:
        self.sent.append((chat_id, Reply(text=caption, photo=content)))

    async def answer_callback(self, callback_id: str, text: str | None, alert: bool) -> None:
        return None


def recording() -> tuple[Outbound, RecordingSender]:
    """An outbound path to a RecordingSender, and the sender."""
    sender = RecordingSender()
    return Outbound(sender), sender
