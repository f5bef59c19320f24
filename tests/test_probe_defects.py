"""Defects 5-9 of the adversarial probe (issue 19): forged actions, logs, purchase
callbacks, terminal exports after an erasure, and small routing faults."""

from __future__ import annotations

import pytest

from bot.render.i18n import Translator
from core.app import PrivacyCore
from core.domain.customer import IdentityKind
from core.services import current_consents
from tests.chat_drivers import ConsoleDriver

ALICE = 7201
en = Translator("en")


async def ref_of(core: PrivacyCore, user: int = ALICE) -> str | None:
    async with core.uow() as uow:
        found = await uow.customers.find(IdentityKind.TELEGRAM, str(user))
    return None if found is None else found.ref


# --- 5. a keyboard's token goes only with that keyboard's actions --------------------


@pytest.mark.parametrize("forged", ["cs|marketing:1", "rf|restrict:1", "rj|gdpr", "rd|yes"])
async def test_a_language_keyboards_token_is_refused_with_another_keyboards_action(
    core: PrivacyCore, forged: str
) -> None:
    chat = ConsoleDriver(core, ALICE)
    await chat.send("/start")
    await chat.send("/language")
    keyboard = chat.messages[-1]
    token = keyboard.buttons[0][1].split("|")[0]
    count = len(chat.messages)
    await chat.press_raw(f"{token}|{forged}", keyboard.id)
    assert chat.notice == en("button.expired")
    assert [m.text for m in chat.messages[count:]] in ([], [en("button.offer_last")])
    ref = await ref_of(core)
    assert ref is not None
    async with core.uow() as uow:
        assert "marketing" not in await current_consents(ref, uow)
        assert await uow.requests.for_customer(ref) == []
        customer = await uow.customers.get(ref)
    assert customer.jurisdiction != "gdpr"


async def test_the_language_keyboard_still_works_with_its_own_action(core: PrivacyCore) -> None:
    chat = ConsoleDriver(core, ALICE)
    await chat.send("/start")
    await chat.send("/language")
    await chat.press("繁體中文")
    ref = await ref_of(core)
    assert ref is not None
    async with core.uow() as uow:
        assert (await uow.customers.get(ref)).language == "zh_Hant"
