"""The request desk: /queue, /request <id>, approve / reject / extend.

/queue          -> open requests by due date, overdue and due-soon marked, paged
tap a request   -> its details with the buttons the staff member's role allows
approve         -> in progress, the work starts, the customer is told
reject / extend -> "send the reason" -> the next message is the reason -> done,
                   the customer is told (a command instead cancels)
a correction    -> its change, masked; "show in full" -> the reason -> in full (audited)
"""

from __future__ import annotations

import re

from bot.conversation.events import Button
from bot.conversation.staff_turn import Desk, short_time
from bot.conversation.turn import Press
from bot.render.deadline import explain_deadline
from core.domain.policy import LegalClock, Permission
from core.domain.requests import DataRequest, RequestState
from core.services.desk.changes import Change, ViewChange, view_change
from core.services.desk.queue import (
    DecideRequest,
    QueueItem,
    Urgency,
    ViewQueue,
    ViewRequest,
    approve_request,
    extend_with_notice,
    local_due_date,
    reject_request,
    urgency,
    view_queue,
    view_request,
)

__all__ = ["ACTIONS", "on_reason", "show_queue", "show_request"]

PAGE, OPEN, APPROVE, REJECT, EXTEND, REVEAL = "sq", "so", "sa", "sj", "sx", "sc"
_REF = re.compile(r"^q[0-9a-f]{24}$")
_MARK = {Urgency.OVERDUE: "🔴", Urgency.DUE_SOON: "🟠", Urgency.ON_TRACK: "⚪"}


async def show_queue(desk: Desk, page: int = 0, *, edit: bool = False) -> None:
    found = await view_queue(ViewQueue(desk.by, page), desk.uow)
    dues = [local_due_date(item.request, desk.uow) for item in found.items]
    if not found.items and page == 0:
        desk.say(desk.t("staff.queue.empty"), edit=edit)
        return
    lines = [desk.t("staff.queue.title", page=page + 1), ""]
    rows: list[tuple[Button, ...]] = []
    for item, due in zip(found.items, dues, strict=True):
        lines.append(_queue_line(desk, item, due))
        rows.append(
            (desk.button(f"{_MARK[item.urgency]} {item.request.ref}", OPEN, item.request.ref),)
        )
    nav = []
    if page > 0:
        nav.append(desk.button(desk.t("staff.queue.prev"), PAGE, str(page - 1)))
    if found.has_more:
        nav.append(desk.button(desk.t("staff.queue.next"), PAGE, str(page + 1)))
    if nav:
        rows.append(tuple(nav))
    lines += ["", desk.t("staff.queue.legend")]
    desk.say("\n".join(lines), *rows, edit=edit)


def _queue_line(desk: Desk, item: QueueItem, due: str) -> str:
    r = item.request
    mark = desk.t(f"staff.mark.{item.urgency.value}")
    return desk.t(
        "staff.queue.line",
        mark=f"{_MARK[item.urgency]} {mark}",
        ref=r.ref,
        kind=desk.t(f"staff.kind.{r.kind.value}"),
        state=desk.t(f"staff.state.{r.state.value}"),
        due=due,
    )


async def on_page(desk: Desk, press: Press) -> None:
    if not press.arg.isdigit() or int(press.arg) > 10_000:
        desk.notify(desk.t("button.expired"))
        return
    await show_queue(desk, int(press.arg), edit=True)


async def show_request(desk: Desk, ref: str) -> None:
    ref = ref.strip()
    if not _REF.match(ref):
        desk.say(desk.t("staff.request.usage"))
        return
    request = await view_request(ViewRequest(desk.by, ref), desk.uow)
    due = local_due_date(request, desk.uow)
    now = desk.uow.now()
    regime = desk.core.policy.jurisdiction(request.jurisdiction)
    lines = [
        desk.t(
            "staff.request.detail",
            ref=request.ref,
            kind=desk.t(f"staff.kind.{request.kind.value}"),
            state=desk.t(f"staff.state.{request.state.value}"),
            received=short_time(request.received_at),
            due=due,
            regime=regime.name,
        ),
    ]
    if not request.state.closed:
        lines.append(desk.t(f"staff.mark.{urgency(request, now).value}"))
    if request.extended:
        lines.append(desk.t("staff.request.was_extended"))
    change = await view_change(ViewChange(desk.by, request.ref), desk.uow)
    if change is not None:
        lines.append(_change_line(desk, change))
    clock = LegalClock.EXTEND if request.extended else LegalClock.RESPOND
    counted = explain_deadline(desk.t, regime, regime.deadline(request.received_at, clock))
    lines += ["", desk.t("staff.request.clock"), *counted[1:]]  # the date is shown above
    lines += ["", desk.t("staff.request.history")]
    lines += [
        f"· {short_time(at)} {desk.t(f'staff.state.{s.value}')}" + (f": {note}" if note else "")
        for at, s, note in request.history
    ]
    buttons = _decision_buttons(desk, request, regime.extension is not None)
    if change is not None and desk.may(Permission.LOOKUP_REVEAL.value):
        buttons.append((desk.button(desk.t("staff.button.reveal_change"), REVEAL, request.ref),))
    desk.say("\n".join(lines), *buttons)


def _change_line(desk: Desk, change: Change) -> str:
    return desk.t(
        "staff.request.change",
        field=desk.t(f"rights.field.{change.field}").lower(),
        old=change.old or "—",
        new=change.new,
    )


def _decision_buttons(
    desk: Desk, request: DataRequest, extendable: bool
) -> list[tuple[Button, ...]]:
    row: list[Button] = []
    if request.state in (RequestState.RECEIVED, RequestState.VERIFYING) and desk.may(
        Permission.REQUEST_APPROVE.value
    ):
        row.append(desk.button(desk.t("staff.button.approve"), APPROVE, request.ref))
    if not request.state.closed and desk.may(Permission.REQUEST_REJECT.value):
        row.append(desk.button(desk.t("staff.button.reject"), REJECT, request.ref))
    if (
        extendable
        and not request.extended
        and not request.state.closed
        and desk.may(Permission.REQUEST_EXTEND.value)
    ):
        row.append(desk.button(desk.t("staff.button.extend"), EXTEND, request.ref))
    return [tuple(row)] if row else []


async def on_open(desk: Desk, press: Press) -> None:
    await show_request(desk, press.arg)


async def on_approve(desk: Desk, press: Press) -> None:
    if not _REF.match(press.arg):
        desk.notify(desk.t("button.expired"))
        return
    request = await approve_request(DecideRequest(desk.by, press.arg), desk.uow)
    said = "staff.request.first_approval" if request.first_approver else "staff.request.approved"
    desk.notify(desk.t(said, ref=request.ref))
    desk.say(desk.t(said, ref=request.ref))


async def on_reason_needed(desk: Desk, press: Press) -> None:
    if not _REF.match(press.arg):
        desk.notify(desk.t("button.expired"))
        return
    step = {REJECT: "reject", EXTEND: "extend", REVEAL: "reveal"}[press.action]
    desk.state["pending"] = {"do": step, "ref": press.arg}
    desk.say(desk.t(f"staff.reason.ask_{step}", ref=press.arg))


async def on_reason(desk: Desk, text: str) -> None:
    """The message after reject/extend: the reason (kept pending while it is empty)."""
    pending = desk.state.get("pending") or {}
    ref, step = str(pending.get("ref", "")), pending.get("do")
    if not text.strip():
        desk.say(desk.t("staff.reason.empty"))
        return
    desk.state.pop("pending", None)
    if step == "reveal":
        change = await view_change(ViewChange(desk.by, ref, text), desk.uow)
        desk.say(_change_line(desk, change) if change else desk.t("staff.request.no_change"))
        return
    decide = reject_request if step == "reject" else extend_with_notice
    request = await decide(DecideRequest(desk.by, ref, text), desk.uow)
    due = local_due_date(request, desk.uow)
    key = "staff.request.rejected" if step == "reject" else "staff.request.extended"
    desk.say(desk.t(key, ref=request.ref, due=due))


ACTIONS = {
    PAGE: on_page,
    OPEN: on_open,
    APPROVE: on_approve,
    REJECT: on_reason_needed,
    EXTEND: on_reason_needed,
    REVEAL: on_reason_needed,
}
