"""The staff desk in the chat, routed before anything a customer sees.

Staff are known by their Telegram id and checked against the staff table on every
update (a removed member loses access at once). A staff command from anyone who
is not staff is an audited denial and then goes on as the customer's own unknown
command, so the reply is exactly the same and the desk stays invisible. Staff are
not registered as customers by the desk: their first /queue must not start with
the customers' privacy notice.

/queue, /request <id>           -> bot/conversation/staff_requests.py
/lookup, /audit, /stats, /retention -> bot/conversation/staff_tools.py
/incident                       -> bot/conversation/staff_incidents.py
"""

from __future__ import annotations

import logging

from bot.conversation import staff_incidents, staff_requests
from bot.conversation.events import EventKind, Incoming, Outcome
from bot.conversation.routes import DeskHandler, DeskPressHandler, RouteMap
from bot.conversation.staff_turn import Desk
from bot.conversation.turn import Press, parse_press
from core.app import PrivacyCore
from core.errors import PermissionDenied, PrivacyError
from core.services import authorise
from core.services.desk.queue import load_desk_state, save_desk_state
from core.storage import UnitOfWork

__all__ = ["dispatch"]

log = logging.getLogger("bot.staff")


async def dispatch(
    routes: RouteMap, core: PrivacyCore, event: Incoming, uow: UnitOfWork
) -> Outcome | None:
    """The desk's answer, or None when the event is the customers' business.

    Runs in the caller's turn: ``uow`` is the engine's, committed by it.
    """
    press = parse_press(event.data) if event.kind is EventKind.BUTTON else None
    desk_command = event.kind is EventKind.COMMAND and event.text in routes.staff_commands
    if not (desk_command or (press is not None and press.action in routes.staff_buttons)):
        if event.kind in (EventKind.TEXT, EventKind.COMMAND):
            return await _maybe_reason(core, event, uow)
        return None
    staff = await uow.staff.get(event.user_id)
    if staff is None or (desk_command and _hidden_from(routes, event.text, staff.role.value, core)):
        if desk_command:
            await _deny(routes, event, uow)
        return None
    desk = Desk(core, uow, event, staff, await load_desk_state(event.user_id, uow))
    if press is not None:
        await _press(desk, routes.staff_buttons[press.action], press)
    else:
        desk.state.pop("pending", None)  # a command cancels a half-done reason
        await _run(desk, routes.staff_commands[event.text][0])
    await save_desk_state(desk.by, desk.state, uow)
    return desk.outcome


# Commands that stay invisible to staff without their permission (an incident under
# way is not every agent's business): the customers' unknown-command answer, audited.
_HIDDEN = frozenset({"incident"})


def _hidden_from(routes: RouteMap, command: str, role: str, core: PrivacyCore) -> bool:
    need = routes.staff_commands[command][1]
    return command in _HIDDEN and not core.policy.allows(role, need.value)


async def _maybe_reason(core: PrivacyCore, event: Incoming, uow: UnitOfWork) -> Outcome | None:
    """The message after reject/extend is the reason; another command cancels."""
    state = await load_desk_state(event.user_id, uow)
    if not state.get("pending"):
        return None
    staff = await uow.staff.get(event.user_id)
    if staff is None or event.kind is EventKind.COMMAND:
        state.pop("pending")
        await save_desk_state(event.user_id, state, uow)
        return None
    desk = Desk(core, uow, event, staff, state)
    takes = (
        staff_incidents.on_summary
        if state["pending"].get("do") == "incident"
        else (staff_requests.on_reason)
    )
    await _run(desk, lambda d: takes(d, event.text))
    await save_desk_state(desk.by, desk.state, uow)
    return desk.outcome


async def _press(desk: Desk, handler: DeskPressHandler, press: Press) -> None:
    if not desk.knows(press):
        log.info("refused staff button")
        offered = desk.offer_last_keyboard(desk.t("button.offer_last"))
        desk.notify(desk.t("button.expired"), alert=not offered)
        return
    await _run(desk, lambda d: handler(d, press))


async def _run(desk: Desk, handler: DeskHandler) -> None:
    """Run a desk action; a refusal drops what it began (its denial is kept)."""
    try:
        await handler(desk)
    except PrivacyError as error:
        log.info("desk refused code=%s", error.code)
        # The turn so far only read; the state is saved after this. (No savepoint:
        # a retention run commits batch by batch, which a savepoint cannot span.)
        await desk.uow.rollback()
        desk.refused(error)


async def _deny(routes: RouteMap, event: Incoming, uow: UnitOfWork) -> None:
    """Audit a non-member's try at a desk command (the reply is the customers')."""
    need = routes.staff_commands[event.text][1]
    try:
        await authorise(event.user_id, need.value, f"desk.{event.text}", uow)
    except PermissionDenied:
        log.info("desk command from a non-member refused")
