"""The staff desk in the chat, routed before anything a customer sees.

Staff are known by their Telegram id and checked against the staff table on every
update (a removed member loses access at once). A staff command from anyone who
is not staff is an audited denial and then goes on as the customer's own unknown
command, so the reply is exactly the same and the desk stays invisible. Staff are
not registered as customers by the desk: their first /queue must not start with
the customers' privacy notice.

/queue, /request <id>           -> bot/flows/staff_requests.py
/lookup, /audit, /stats, /retention -> bot/flows/staff_tools.py
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from bot.flows import staff_requests, staff_tools
from bot.flows.events import EventKind, Incoming, Outcome
from bot.flows.staff_turn import Desk
from bot.flows.turn import Press, parse_press
from core.app import PrivacyCore
from core.domain.policy import Permission
from core.domain.staff import Staff
from core.errors import PermissionDenied, PrivacyError
from core.services import authorise
from core.services.staff_desk import load_desk_state, save_desk_state

__all__ = ["STAFF_COMMANDS", "dispatch", "menu_for"]

log = logging.getLogger("bot.staff")

Handler = Callable[[Desk], Awaitable[None]]
PressHandler = Callable[[Desk, Press], Awaitable[None]]


async def _request(desk: Desk) -> None:
    await staff_requests.show_request(desk, desk.event.args)


async def _queue(desk: Desk) -> None:
    await staff_requests.show_queue(desk)


# command -> (handler, the permission a member needs to see it in their menu)
COMMANDS: dict[str, tuple[Handler, Permission]] = {
    "queue": (_queue, Permission.QUEUE_VIEW),
    "request": (_request, Permission.REQUEST_VIEW),
    "lookup": (staff_tools.lookup, Permission.LOOKUP_MASKED),
    "audit": (staff_tools.audit, Permission.AUDIT_TAIL),
    "stats": (staff_tools.stats, Permission.STATS_VIEW),
    "retention": (staff_tools.retention, Permission.RETENTION_RUN),
}
STAFF_COMMANDS = tuple(COMMANDS)
PRESSES: dict[str, PressHandler] = {**staff_requests.ACTIONS, **staff_tools.ACTIONS}


def menu_for(staff: Staff, allows: Callable[[str, str], bool]) -> list[str]:
    """The desk commands this member's role may use, for their private command menu."""
    return [name for name, (_, need) in COMMANDS.items() if allows(staff.role.value, need.value)]


async def dispatch(core: PrivacyCore, event: Incoming) -> Outcome | None:
    """The desk's answer, or None when the event is the customers' business."""
    press = parse_press(event.data) if event.kind is EventKind.BUTTON else None
    desk_command = event.kind is EventKind.COMMAND and event.text in COMMANDS
    if not (desk_command or (press is not None and press.action in PRESSES)):
        if event.kind in (EventKind.TEXT, EventKind.COMMAND):
            return await _maybe_reason(core, event)
        return None
    async with core.uow() as uow:
        staff = await uow.staff.get(event.user_id)
        state = await load_desk_state(event.user_id, uow) if staff else {}
    if staff is None:
        if desk_command:
            await _deny(core, event)
        return None
    desk = Desk(core, event, staff, state)
    if press is not None:
        await _press(desk, press)
    else:
        desk.state.pop("pending", None)  # a command cancels a half-done reason
        await _run(desk, COMMANDS[event.text][0])
    await _save(desk)
    return desk.outcome


async def _maybe_reason(core: PrivacyCore, event: Incoming) -> Outcome | None:
    """The message after reject/extend is the reason; another command cancels."""
    async with core.uow() as uow:
        state = await load_desk_state(event.user_id, uow)
        staff = await uow.staff.get(event.user_id) if state.get("pending") else None
    if not state.get("pending"):
        return None
    if staff is None or event.kind is EventKind.COMMAND:
        state.pop("pending")
        async with core.uow() as uow:
            await save_desk_state(event.user_id, state, uow)
        return None
    desk = Desk(core, event, staff, state)
    await _run(desk, lambda d: staff_requests.on_reason(d, event.text))
    await _save(desk)
    return desk.outcome


async def _press(desk: Desk, press: Press) -> None:
    if not desk.knows(press):
        log.info("refused staff button")
        desk.notify(desk.t("button.expired"), alert=True)
        return
    await _run(desk, lambda d: PRESSES[press.action](d, press))


async def _run(desk: Desk, handler: Handler) -> None:
    try:
        await handler(desk)
    except PrivacyError as error:
        log.info("desk refused code=%s", error.code)
        desk.refused(error)


async def _deny(core: PrivacyCore, event: Incoming) -> None:
    """Audit a non-member's try at a desk command (the reply is the customers')."""
    need = COMMANDS[event.text][1]
    async with core.uow() as uow:
        try:
            await authorise(event.user_id, need.value, f"desk.{event.text}", uow)
        except PermissionDenied:
            log.info("desk command from a non-member refused")


async def _save(desk: Desk) -> None:
    async with desk.core.uow() as uow:
        await save_desk_state(desk.by, desk.state, uow)
