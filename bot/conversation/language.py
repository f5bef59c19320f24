"""/language: pick English, 简体中文 or 繁體中文 (香港); answered in the new language."""

from __future__ import annotations

from bot.conversation.turn import Press, Turn
from core.services import LANGUAGES, ChangeLanguage, change_language

__all__ = ["choose_language", "on_language_press"]

ACTION = "lg"
# Each language names itself, so a customer lost in a foreign one finds theirs.
NAMES = {"en": "English", "zh_Hans": "简体中文", "zh_Hant": "繁體中文 (香港)"}


async def choose_language(turn: Turn) -> None:
    rows = [(turn.button(NAMES[code], ACTION, code),) for code in LANGUAGES]
    turn.say(turn.t("language.choose"), *rows)


async def on_language_press(turn: Turn, press: Press) -> None:
    if press.arg not in LANGUAGES:
        turn.notify(turn.t("button.expired"))
        return
    turn.customer = await change_language(ChangeLanguage(turn.customer.ref, press.arg), turn.uow)
    turn.say(turn.t("language.changed", language=NAMES[press.arg]), edit=True)
    turn.notify(NAMES[press.arg])
