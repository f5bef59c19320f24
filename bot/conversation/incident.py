"""The breach notice a customer gets in their chat, and its three buttons.

Written in the customer's language from catalog texts and the incident's codes
(never the staff's own words): what happened, which of their data, what it could
mean for them, what the shop did, what they can do, whom to ask.

[🔍 See my data] -> /mydata   [⚙️ Change my consent] -> /privacy   [🗑 Erase my data] -> /delete
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from bot.conversation import consent, rights
from bot.conversation.events import EventKind, Incoming, Reply
from bot.conversation.formatting import local_time
from bot.conversation.turn import Press, Turn, accept_keyboard
from core.app import PrivacyCore
from core.domain.customer import Customer
from core.domain.incident import Incident
from core.services.outreach.followups import followup_survey

__all__ = ["ACTIONS", "compose_notice", "mark_state"]

OPEN = "iv"
_GOTO: dict[str, Callable[[Turn], Awaitable[None]]] = {
    "mydata": rights.my_data,
    "privacy": consent.show_privacy,
    "delete": rights.delete,
}


def mark_state(state: dict[str, Any], token: str) -> None:
    """Accept presses carrying ``token`` (the notice's buttons)."""
    accept_keyboard(state, token, ACTIONS)


def compose_notice(
    core: PrivacyCore,
    customer: Customer,
    incident: Incident,
    categories: tuple[str, ...],
    token: str,
) -> Reply:
    event = Incoming(user_id=0, chat_id=0, kind=EventKind.COMMAND, text="incident")
    turn = Turn(core, event, customer, {}, followup_survey(), _token=token)  # renders only
    t = turn.t
    lines = [
        t("incident.notice.title"),
        "",
        t("incident.notice.what", date=local_time(turn, incident.aware_at)[:10]),
        t(
            "incident.notice.categories",
            categories=t.join(t(f"rights.category.{c}") for c in categories),
        ),
        t(
            "incident.notice.consequences",
            consequences=" ".join(t(f"incident.consequence.{c}") for c in categories),
        ),
    ]
    if incident.measures:
        done = t.join(t(f"incident.measure.{m.value}") for m in incident.measures)
        lines.append(t("incident.notice.measures", measures=done))
    else:
        lines.append(t("incident.notice.measures_none"))
    lines += [t("incident.notice.advice"), "", t("incident.notice.officer", contact=_officer(core))]
    buttons = tuple((turn.button(t(f"incident.button.{name}"), OPEN, name),) for name in _GOTO)
    return Reply(text="\n".join(lines), buttons=buttons)


def _officer(core: PrivacyCore) -> str:
    return core.policy.privacy_officer or "/help"


async def on_press(turn: Turn, press: Press) -> None:
    go = _GOTO.get(press.arg)
    if go is None:
        turn.notify(turn.t("button.expired"))
        return
    await go(turn)


ACTIONS = {OPEN: on_press}
