"""The terminal chat (`privacy-bot chat`): numbers press only the keyboard last shown,
a wrong number shows that keyboard again in one line, and files are saved side by
side, never over each other."""

from __future__ import annotations

import io
from pathlib import Path

from bot.channels.console import ConsoleChat
from bot.conversation import FlowEngine
from bot.render.i18n import Translator
from core.app import PrivacyCore
from core.domain.customer import IdentityKind
from core.services import SYSTEM, AddStaff, add_staff

en = Translator("en")


def terminal(
    core: PrivacyCore, files: Path | None = None, user: int = 1
) -> tuple[ConsoleChat, io.StringIO]:
    out = io.StringIO()
    return ConsoleChat(FlowEngine(core), out, user, "en", files), out


async def test_a_number_after_a_reply_without_buttons_presses_nothing(core: PrivacyCore) -> None:
    chat, out = terminal(core)
    await chat.send("/start")
    await chat.send("/language")
    shown = out.getvalue().rsplit("\n\n", 1)[-1]
    number = (
        next(line for line in shown.splitlines() if "繁體中文" in line).split("]")[0].split("[")[-1]
    )
    await chat.send(number.strip())  # 繁體中文: the keyboard is replaced by a line of text
    await chat.send("1")  # no keyboard now: this must not switch the language back
    async with core.uow() as uow:
        customer = await uow.customers.find(IdentityKind.TELEGRAM, "1")
    assert customer is not None
    assert customer.language == "zh_Hant"
    assert en("console.no_keyboard") in out.getvalue()


async def test_a_number_with_no_such_button_shows_the_last_keyboard_again(
    core: PrivacyCore,
) -> None:
    chat, out = terminal(core)
    await chat.send("/start")
    before = out.getvalue()
    await chat.send("42")
    added = out.getvalue()[len(before) :]
    assert en("console.no_such_button", n=42) in added
    assert "[1]" in added  # the keyboard, reprinted
    assert en("help.text")[:30] not in added  # not the whole help


async def test_two_copies_of_one_day_are_saved_side_by_side(
    core: PrivacyCore, tmp_path: Path
) -> None:
    files = tmp_path / "files"
    chat, _ = terminal(core, files)
    await chat.send("/start")
    await chat.send("/export")
    await chat.send("/export")
    saved = sorted(p.name for p in files.iterdir())
    assert len(saved) == 2
    assert all(name.startswith("my-data-") and name.endswith(".zip") for name in saved)


async def test_the_stats_chart_is_saved_and_its_path_printed(
    core: PrivacyCore, tmp_path: Path
) -> None:
    async with core.uow() as uow:
        await add_staff(AddStaff(7, "admin", SYSTEM), uow)
        await uow.commit()
    files = tmp_path / "files"
    chat, out = terminal(core, files, user=7)
    await chat.send("/stats")
    assert (files / "chart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert str(files / "chart.png") in out.getvalue()
