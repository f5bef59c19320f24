"""One route map for customers and staff: clashes stop the start, naming both owners."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bot.conversation.engine import FlowEngine
from bot.conversation.routes import ROUTES, RouteClash, build_route_map
from bot.render.i18n import Translator
from core.app import PrivacyCore
from core.domain.customer import IdentityKind
from core.services import SYSTEM, AddStaff, add_staff, find_customer, survey_answers
from tests.chat_drivers import ConsoleDriver

STAFF_ID = 8101


async def _nothing(*_args: object) -> None:
    return None


def test_the_shipped_routes_have_no_clash() -> None:
    routes = build_route_map()
    assert not set(routes.buttons) & set(routes.staff_buttons)
    assert not set(routes.commands) & set(routes.staff_commands)


def test_a_button_code_claimed_by_a_customer_flow_and_the_desk_stops_the_start(
    core: PrivacyCore,
) -> None:
    clashing = replace(ROUTES, buttons=(*ROUTES.buttons, ("newflow", {"sa": _nothing})))
    with pytest.raises(RouteClash) as raised:
        FlowEngine(core, routes=build_route_map(clashing))
    assert str(raised.value) == "button code 'sa' is claimed by both staff_requests and newflow"


def test_a_command_claimed_twice_names_both_owners() -> None:
    clashing = replace(ROUTES, commands=(*ROUTES.commands, ("promo", {"privacy": _nothing})))
    with pytest.raises(RouteClash, match="command 'privacy' is claimed by both consent and promo"):
        build_route_map(clashing)


def test_a_customer_command_that_shadows_a_desk_command_is_a_clash() -> None:
    clashing = replace(ROUTES, commands=(*ROUTES.commands, ("promo", {"queue": _nothing})))
    with pytest.raises(RouteClash, match="'queue' is claimed by both staff_requests and promo"):
        build_route_map(clashing)


def test_a_text_intent_to_a_missing_command_stops_the_start() -> None:
    broken = replace(ROUTES, intents=(*ROUTES.intents, ("nosuch", ("gimme",))))
    with pytest.raises(RouteClash, match="/nosuch"):
        build_route_map(broken)


async def test_a_staff_member_can_answer_the_survey(core: PrivacyCore) -> None:
    async with core.uow() as uow:
        await add_staff(AddStaff(STAFF_ID, "admin", SYSTEM), uow)
        await uow.commit()
    chat = ConsoleDriver(core, STAFF_ID)
    await chat.send("/start")
    await chat.send("/survey")
    await chat.press("Monthly")  # was the desk's "approve" code: "that button has expired"
    assert chat.notice != Translator("en")("button.expired")
    async with core.uow() as uow:
        customer = await find_customer(IdentityKind.TELEGRAM, str(STAFF_ID), uow)
        assert customer is not None
        answers = await survey_answers(customer.ref, "preferences", uow)
    assert answers["frequency"].value == "monthly"
