"""/help, and the answer to anything the bot does not understand."""

from __future__ import annotations

from bot.conversation.turn import Turn

__all__ = ["not_understood", "show_help"]


async def show_help(turn: Turn) -> None:
    turn.say(turn.t("help.text"))


async def not_understood(turn: Turn) -> None:
    turn.say(turn.t("unknown.text") + "\n\n" + turn.t("help.text"))
