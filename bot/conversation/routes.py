"""Every route of the conversation in one table: commands, button codes and text intents.

    audience  kind      key          owner            -> handler
    customer  command   /start ...   consent, survey, language, help, rights, requests
    customer  button    cs, lg, q*, r*, f*
    staff     command   /queue ...   staff_requests, staff_tools   (with the permission
    staff     button    s*                                           that shows it in the menu)
    customer  text      phrases      intents           -> a customer command

Staff routes are tried first (bot/conversation/staff.py), so customers and staff share one
namespace of commands and one of button codes. :func:`build_route_map` merges the
tables and refuses a key that two owners claim, naming both: the engine builds the
map when it starts, so a clash stops the start instead of silently sending one
owner's presses to the other.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from bot.conversation import (
    agent,
    consent,
    followup,
    help,
    incident,
    intents,
    language,
    requests,
    rights,
    staff_incidents,
    staff_requests,
    staff_tools,
    survey,
)
from bot.conversation.staff_turn import Desk
from bot.conversation.turn import Press, Turn
from core.domain.policy import Permission
from core.domain.staff import Staff
from core.errors import ConfigurationError

__all__ = [
    "COMMAND_MENU",
    "ROUTES",
    "RouteClash",
    "RouteMap",
    "RouteTables",
    "build_route_map",
    "menu_for",
]

Handler = Callable[[Turn], Awaitable[None]]
PressHandler = Callable[[Turn, Press], Awaitable[None]]
DeskHandler = Callable[[Desk], Awaitable[None]]
DeskPressHandler = Callable[[Desk, Press], Awaitable[None]]
StaffCommand = tuple[DeskHandler, Permission]

V = TypeVar("V")
Owned = tuple[tuple[str, Mapping[str, V]], ...]  # (owner, {key: handler})


class RouteClash(ConfigurationError):
    """Two owners claim one command or button code."""


@dataclass(frozen=True)
class RouteTables:
    """The routes as their owners declare them, before merging."""

    commands: Owned[Handler]
    buttons: Owned[PressHandler]
    staff_commands: Owned[StaffCommand]
    staff_buttons: Owned[DeskPressHandler]
    intents: tuple[tuple[str, tuple[str, ...]], ...]  # (command, phrases)


@dataclass(frozen=True)
class RouteMap:
    commands: dict[str, Handler]
    buttons: dict[str, PressHandler]
    staff_commands: dict[str, StaffCommand]
    staff_buttons: dict[str, DeskPressHandler]


async def _request(desk: Desk) -> None:
    await staff_requests.show_request(desk, desk.event.args)


async def _queue(desk: Desk) -> None:
    await staff_requests.show_queue(desk)


ROUTES = RouteTables(
    commands=(
        (
            "consent",
            {
                "start": consent.start,
                "privacy": consent.show_privacy,
                "stop_messages": consent.stop_messages_screen,
            },
        ),
        ("survey", {"survey": survey.start_survey}),
        ("language", {"language": language.choose_language}),
        ("help", {"help": help.show_help}),
        ("rights", rights.COMMANDS),
        ("requests", requests.COMMANDS),
    ),
    buttons=(
        ("consent", consent.ACTIONS),
        ("language", {language.ACTION: language.on_language_press}),
        ("survey", survey.ACTIONS),
        ("rights", rights.ACTIONS),
        ("requests", requests.ACTIONS),
        ("followup", followup.ACTIONS),
        ("incident", incident.ACTIONS),
        ("agent", agent.ACTIONS),
    ),
    staff_commands=(
        (
            "staff_requests",
            {
                "queue": (_queue, Permission.QUEUE_VIEW),
                "request": (_request, Permission.REQUEST_VIEW),
            },
        ),
        (
            "staff_tools",
            {
                "lookup": (staff_tools.lookup, Permission.LOOKUP_MASKED),
                "audit": (staff_tools.audit, Permission.AUDIT_TAIL),
                "stats": (staff_tools.stats, Permission.STATS_VIEW),
                "retention": (staff_tools.retention, Permission.RETENTION_RUN),
            },
        ),
        ("staff_incidents", {"incident": (staff_incidents.incident, Permission.INCIDENT_MANAGE)}),
    ),
    staff_buttons=(
        ("staff_incidents", staff_incidents.ACTIONS),
        ("staff_requests", staff_requests.ACTIONS),
        ("staff_tools", staff_tools.ACTIONS),
    ),
    intents=intents.ROUTES,
)

# The customer's command menu, in this order (setMyCommands, per language).
COMMAND_MENU = (
    "start",
    "privacy",
    "mydata",
    "export",
    "correct",
    "delete",
    "requests",
    "survey",
    "language",
    "help",
)


def build_route_map(tables: RouteTables = ROUTES) -> RouteMap:
    """Merge the tables; a key claimed twice, or an intent to no command, is refused."""
    owners: dict[tuple[str, str], str] = {}
    staff_commands = _merge("command", tables.staff_commands, owners)
    commands = _merge("command", tables.commands, owners)
    staff_buttons = _merge("button code", tables.staff_buttons, owners)
    buttons = _merge("button code", tables.buttons, owners)
    for command, _phrases in tables.intents:
        if command not in commands:
            raise RouteClash(f"text intent routes to /{command}, which no customer flow owns")
    for command in COMMAND_MENU:
        if command not in commands:
            raise RouteClash(f"menu command /{command} has no route")
    return RouteMap(commands, buttons, staff_commands, staff_buttons)


def _merge(kind: str, owned: Owned[V], owners: dict[tuple[str, str], str]) -> dict[str, V]:
    merged: dict[str, V] = {}
    for owner, routes in owned:
        for key, handler in routes.items():
            first = owners.get((kind, key))
            if first is not None:
                raise RouteClash(f"{kind} {key!r} is claimed by both {first} and {owner}")
            owners[(kind, key)] = owner
            merged[key] = handler
    return merged


def menu_for(
    staff: Staff, allows: Callable[[str, str], bool], routes: RouteMap | None = None
) -> list[str]:
    """The desk commands this member's role may use, for their private command menu."""
    commands = (routes or build_route_map()).staff_commands
    return [name for name, (_, need) in commands.items() if allows(staff.role.value, need.value)]
