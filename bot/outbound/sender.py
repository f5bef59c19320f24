"""How a messaging framework makes each call (bot/channels/ implements it per framework)."""

from __future__ import annotations

from typing import Protocol

from bot.conversation.events import Reply
from bot.outbound.errors import Rejected

__all__ = ["Sender", "Unconfigured"]


class Sender(Protocol):
    """Every method raises only ``bot.outbound.errors`` classes for the platform's answers
    and network failures (translated once, in the adapter). Nothing here waits or
    retries: ``Outbound`` does, for every call."""

    async def send_text(self, chat_id: int, reply: Reply) -> None: ...
    async def edit_text(self, chat_id: int, message_id: int, reply: Reply) -> bool: ...
    async def send_document(
        self, chat_id: int, name: str, content: bytes, caption: str
    ) -> None: ...
    async def send_photo(self, chat_id: int, content: bytes, caption: str) -> None: ...
    async def answer_callback(self, callback_id: str, text: str | None, alert: bool) -> None: ...


class Unconfigured:
    """The Sender of a messaging app this process does not run: every message is
    refused (so a notice for its chats fails, audited, instead of going astray)."""

    def __init__(self, app: str) -> None:
        self.app = app

    async def send_text(self, chat_id: int, reply: Reply) -> None:
        raise Rejected(f"{self.app} is not configured")

    async def edit_text(self, chat_id: int, message_id: int, reply: Reply) -> bool:
        raise Rejected(f"{self.app} is not configured")

    async def send_document(self, chat_id: int, name: str, content: bytes, caption: str) -> None:
        raise Rejected(f"{self.app} is not configured")

    async def send_photo(self, chat_id: int, content: bytes, caption: str) -> None:
        raise Rejected(f"{self.app} is not configured")

    async def answer_callback(self, callback_id: str, text: str | None, alert: bool) -> None:
        return None
