"""B2 inbound throughput on python-telegram-bot: our full stack vs a bare PTB bot."""

from __future__ import annotations

from typing import Any

from bench.bare import BareScreen
from bench.common import Context, Row
from bench.inbound import TimedFake, run_inbound

__all__ = ["run"]


class BarePtb:
    def __init__(self, fake: TimedFake) -> None:
        from telegram.ext import ApplicationBuilder, CallbackQueryHandler, CommandHandler

        from bot.channels.ptb_bot import CONCURRENT_UPDATES, CONNECTION_POOL

        self.app = (
            ApplicationBuilder()
            .token(fake.token)
            .base_url(fake.api_base + "/bot")
            .base_file_url(fake.api_base + "/file/bot")
            .concurrent_updates(CONCURRENT_UPDATES)
            .connection_pool_size(CONNECTION_POOL)  # as ours, so the ratio is the core's cost
            .build()
        )
        self.app.add_handler(CommandHandler("start", self._start))
        self.app.add_handler(CallbackQueryHandler(self._press))
        self.screen = BareScreen()

    async def _start(self, update: Any, _context: Any) -> None:
        text, rows = self.screen.keyboard(update.effective_user.id)
        await update.effective_message.reply_text(text, reply_markup=_markup(rows))

    async def _press(self, update: Any, _context: Any) -> None:
        query = update.callback_query
        uid = query.from_user.id
        notice, receipt = self.screen.press(uid, query.data or "")
        await query.answer(notice)
        text, rows = self.screen.keyboard(uid)
        await query.edit_message_text(text, reply_markup=_markup(rows))
        await query.message.chat.send_message(receipt)

    async def start(self) -> None:
        await self.app.initialize()
        await self.app.start()
        assert self.app.updater is not None
        await self.app.updater.start_polling(poll_interval=0.0, timeout=10)

    async def stop(self) -> None:
        if self.app.updater is not None and self.app.updater.running:
            await self.app.updater.stop()
        await self.app.stop()
        await self.app.shutdown()


def _markup(rows: list[list[tuple[str, str]]]) -> Any:
    from telegram import InlineKeyboardButton, InlineKeyboardMarkup

    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(t, callback_data=d) for t, d in row] for row in rows]
    )


async def run(ctx: Context) -> list[Row]:
    return await run_inbound(ctx, "B2", "ptb", BarePtb)
