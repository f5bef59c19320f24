"""B1 inbound throughput on aiogram: our full stack vs a bare aiogram bot."""

from __future__ import annotations

import asyncio
from typing import Any

from bench.bare import BareScreen
from bench.common import Context, Row
from bench.inbound import TimedFake, run_inbound

__all__ = ["run"]


class BareAiogram:
    def __init__(self, fake: TimedFake) -> None:
        from aiogram import Bot, Dispatcher
        from aiogram.client.session.aiohttp import AiohttpSession
        from aiogram.client.telegram import TelegramAPIServer

        from bot.channels.aiogram_bot import pin_response_models

        # The same aiogram/pydantic work-around as ours, so the ratio is the core's cost.
        pin_response_models()
        session = AiohttpSession(api=TelegramAPIServer.from_base(fake.api_base))
        self.bot = Bot(fake.token, session=session)
        self.dispatcher = Dispatcher()
        self.dispatcher.message.register(self._start)
        self.dispatcher.callback_query.register(self._press)
        self.screen = BareScreen()
        self._task: asyncio.Task[None] | None = None

    async def _start(self, message: Any) -> None:
        text, rows = self.screen.keyboard(message.from_user.id)
        await message.answer(text, reply_markup=_markup(rows))

    async def _press(self, query: Any) -> None:
        uid = query.from_user.id
        notice, receipt = self.screen.press(uid, query.data or "")
        await query.answer(notice)
        text, rows = self.screen.keyboard(uid)
        await query.message.edit_text(text, reply_markup=_markup(rows))
        await query.message.answer(receipt)

    async def start(self) -> None:
        self._task = asyncio.create_task(
            self.dispatcher.start_polling(self.bot, handle_signals=False, close_bot_session=False)
        )

    async def stop(self) -> None:
        await self.dispatcher.stop_polling()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
        await self.bot.session.close()


def _markup(rows: list[list[tuple[str, str]]]) -> Any:
    from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

    keyboard = [[InlineKeyboardButton(text=t, callback_data=d) for t, d in row] for row in rows]
    return InlineKeyboardMarkup(inline_keyboard=keyboard)


async def run(ctx: Context) -> list[Row]:
    return await run_inbound(ctx, "B1", "aiogram", BareAiogram)
