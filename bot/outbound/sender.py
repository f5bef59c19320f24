"""How a messaging framework makes each call (bot/channels/ implements it per framework)."""

from __future__ import annotations

from typing import Protocol

from bot.conversation.events import Reply

__all__ = ["Sender"]


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
