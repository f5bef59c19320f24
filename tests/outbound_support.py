"""Real adapters' senders pointed at the fake Telegram server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from bot.background.outbound import OutboundSender
from tests.fake_telegram import FakeTelegram


@asynccontextmanager
async def real_sender(framework: str, fake: FakeTelegram) -> AsyncIterator[OutboundSender]:
    """The framework's own sender (send_out), as ``privacy-bot run`` would use it."""
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
