"""/incident: a personal-data breach, from the first report to its close (admins).

/incident [list]                         -> the latest incidents
/incident open CATEGORIES [FROM [UNTIL]] -> "what happened?" -> the next message is
                                            the summary (staff only) -> its clocks
/incident show ID                        -> counts per regime and language, clocks
/incident assess ID low|high [MEASURES]  -> risk and what the shop did
/incident notify ID                      -> "tell N customers, in ..." [Send] [Cancel]
/incident authority ID [WHEN]            -> when the authority was told
/incident report ID                      -> the report for the authority: JSON + HTML files
/incident close ID
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import datetime

from bot.conversation.events import Reply
from bot.conversation.staff_turn import Desk
from bot.conversation.turn import Press
from bot.render.incident import describe_incident, parse_moment, parse_window, short
from bot.render.incident_report import report_data, report_files
from core.domain.incident import Measure, Risk
from core.services.incidents import (
    AssessIncident,
    CloseIncident,
    NotifyIncident,
    OpenIncident,
    TellAuthority,
    ViewIncident,
    assess_incident,
    close_incident,
    list_incidents,
    notify_incident,
    open_incident,
    tell_authority,
    view_incident,
)

__all__ = ["ACTIONS", "incident", "on_summary"]

SEND, DROP = "sin", "sio"
_REF = re.compile(r"^i[0-9a-f]{24}$")


async def incident(desk: Desk) -> None:
    words = desk.event.args.split()
    sub, rest = (words[0].lower(), words[1:]) if words else ("list", [])
    step = _STEPS.get(sub)
    if step is None or (sub not in ("list", "open") and not (rest and _REF.match(rest[0]))):
        desk.say(desk.t("incident.staff.usage"))
        return
    await step(desk, rest)


async def _list(desk: Desk, _: list[str]) -> None:
    found = await list_incidents(desk.by, desk.uow)
    if not found:
        desk.say(desk.t("incident.staff.none"))
        return
    lines = [desk.t("incident.staff.list_title")]
    lines += [
        f"· {i.ref} · {desk.t(f'incident.state.{i.state.value}')} · {short(i.aware_at)}"
        for i in found
    ]
    desk.say("\n".join(lines))


async def _open(desk: Desk, rest: list[str]) -> None:
    if not rest:
        desk.say(desk.t("incident.staff.usage"))
        return
    zone = desk.core.policy.zone
    start = rest[1] if len(rest) > 1 else None
    end = rest[2] if len(rest) > 2 else None
    since, until = parse_window(start, end, zone)  # checks the dates
    desk.state["pending"] = {
        "do": "incident",
        "categories": rest[0].split(","),
        "from": since.isoformat() if since else None,
        "until": until.isoformat() if until else None,
    }
    desk.say(desk.t("incident.staff.ask_summary"))


async def on_summary(desk: Desk, text: str) -> None:
    """The message after /incident open: what happened (kept encrypted, staff only)."""
    pending = desk.state.pop("pending", None) or {}
    when = {k: pending.get(k) for k in ("from", "until")}
    cmd = OpenIncident(
        desk.by,
        desk.uow.now(),
        tuple(str(c) for c in pending.get("categories") or ()),
        text,
        datetime.fromisoformat(when["from"]) if when["from"] else None,
        datetime.fromisoformat(when["until"]) if when["until"] else None,
    )
    opened = await open_incident(cmd, desk.uow)
    desk.say(desk.t("incident.staff.opened", ref=opened.ref))
    await _show(desk, [opened.ref])


async def _show(desk: Desk, rest: list[str]) -> None:
    view = await view_incident(ViewIncident(desk.by, rest[0]), desk.uow)
    desk.say("\n".join(describe_incident(desk.t, view, desk.uow.now())))


async def _assess(desk: Desk, rest: list[str]) -> None:
    if len(rest) < 2:
        desk.say(
            desk.t("incident.staff.assess_usage", measures=", ".join(m.value for m in Measure))
        )
        return
    measures = tuple(m for m in (rest[2].split(",") if len(rest) > 2 else []) if m)
    cmd = AssessIncident(desk.by, rest[0], rest[1].lower(), measures)
    assessed = await assess_incident(cmd, desk.uow)
    risk = Risk(cmd.risk)  # checked by the use case
    desk.say(
        desk.t("incident.staff.assessed", ref=assessed.ref, risk=desk.t(f"incident.risk.{risk}"))
    )


async def _notify(desk: Desk, rest: list[str]) -> None:
    """Confirm first: who will be told, in which languages."""
    view = await view_incident(ViewIncident(desk.by, rest[0]), desk.uow)
    languages = ", ".join(
        f"{desk.t(f'incident.language.{lang}')} {n}" for lang, n in sorted(view.by_language.items())
    )
    desk.say(
        desk.t(
            "incident.staff.confirm",
            ref=rest[0],
            customers=sum(view.affected.values()),
            languages=languages or "—",
            erased=sum(view.erased.values()),
        ),
        (
            desk.button(desk.t("incident.staff.send"), SEND, rest[0]),
            desk.button(desk.t("incident.staff.cancel"), DROP, rest[0]),
        ),
    )


async def on_send(desk: Desk, press: Press) -> None:
    if not _REF.match(press.arg):
        desk.notify(desk.t("button.expired"))
        return
    queued = await notify_incident(NotifyIncident(desk.by, press.arg), desk.uow)
    desk.say(desk.t("incident.staff.notified", ref=press.arg, customers=queued), edit=True)


async def on_drop(desk: Desk, press: Press) -> None:
    desk.say(desk.t("incident.staff.not_sent"), edit=True)


async def _authority(desk: Desk, rest: list[str]) -> None:
    at = parse_moment(rest[1], desk.core.policy.zone) if len(rest) > 1 else desk.uow.now()
    told = await tell_authority(TellAuthority(desk.by, rest[0], at), desk.uow)
    desk.say(
        desk.t("incident.staff.authority_told", ref=told.ref, at=short(told.authority_told_at))
    )


async def _report(desk: Desk, rest: list[str]) -> None:
    view = await view_incident(ViewIncident(desk.by, rest[0]), desk.uow)
    data = report_data(view, desk.core.policy.privacy_officer, desk.uow.now())
    for name, content in report_files(data).items():
        desk.reply(Reply(text=name, document=(name, content)))


async def _close(desk: Desk, rest: list[str]) -> None:
    closed = await close_incident(CloseIncident(desk.by, rest[0]), desk.uow)
    desk.say(desk.t("incident.staff.closed", ref=closed.ref))


_STEPS: dict[str, Callable[[Desk, list[str]], Awaitable[None]]] = {
    "list": _list,
    "open": _open,
    "show": _show,
    "assess": _assess,
    "notify": _notify,
    "authority": _authority,
    "report": _report,
    "close": _close,
}
ACTIONS = {SEND: on_send, DROP: on_drop}
