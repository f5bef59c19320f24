"""The request desk: /queue, /request <id>, approve / reject / extend.

/queue          -> open requests by due date, overdue and due-soon marked, paged
tap a request   -> its details with the buttons the staff member's role allows
approve         -> in progress, the work starts, the customer is told
ask (identity / detail) -> waiting for the customer, who is told; the clock stands
                   still where the regime allows; their answer shows here
reject / extend / answered -> "send the reason" -> the next message is the reason
                   -> done, the customer is told (a command instead cancels)
a correction    -> its change, masked; "show in full" -> the reason -> in full (audited)
"""

from __future__ import annotations

import re

from bot.conversation.events import Button
from bot.conversation.staff_turn import Desk, short_time
from bot.conversation.turn import Press
from bot.render.deadline import explain_deadline
from core.domain.policy import LegalClock, Permission
from core.domain.requests import DataRequest, RequestState, Waiting
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
from core.services.desk.reasons import shown_reason
from core.services.desk.waiting import AskCustomer, ask_customer, end_wait, view_answers

__all__ = ["ACTIONS", "on_reason", "show_queue", "show_request"]

PAGE, OPEN, APPROVE, REJECT, EXTEND, REVEAL = "sq", "so", "sa", "sj", "sx", "sc"
ASK_IDENTITY, ASK_DETAIL, RESUME = "swi", "swc", "swr"
_ASK = {ASK_IDENTITY: Waiting.IDENTITY, ASK_DETAIL: Waiting.CLARIFICATION}
_REF = re.compile(r"^q[0-9a-f]{24}$")
_MARK = {Urgency.OVERDUE: "🔴", Urgency.DUE_SOON: "🟠", Urgency.ON_TRACK: "⚪"}


async def show_queue(desk: Desk, page: int = 0, *, edit: bool = False) -> None:
    found = await view_queue(ViewQueue(desk.by, page), desk.uow)
    dues = [local_due_date(item.request, desk.uow) for item in found.items]
    if not found.items and page == 0:
        desk.say(desk.t("staff.queue.empty"), edit=edit)
        return
    lines = [desk.t("staff.queue.title", page=page + 1), ""]
    if found.stuck:
        refs = desk.t.join(r.ref for r in found.stuck)
        lines += [desk.t("staff.queue.stuck", count=len(found.stuck), refs=refs), ""]
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
    line = desk.t(
        "staff.queue.line",
        mark=f"{_MARK[item.urgency]} {mark}",
        ref=r.ref,
        kind=desk.t(f"staff.kind.{r.kind.value}"),
        state=desk.t(f"staff.state.{r.state.value}"),
        due=due,
    )
    paused = desk.core.policy.jurisdiction(r.jurisdiction).paused_total(r.pauses, desk.uow.now())
    line += desk.t("staff.queue.paused", days=paused) if paused else ""
    return line + (desk.t("staff.queue.stuck_mark") if item.stuck else "")


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
    lines += await _waiting_lines(desk, request)
    clock = LegalClock.EXTEND if request.extended else LegalClock.RESPOND
    counted = explain_deadline(desk.t, regime, regime.deadline(request.received_at, clock))
    lines += ["", desk.t("staff.request.clock"), *counted[1:]]  # the date is shown above
    paused = regime.paused_total([p for p in request.pauses if p.until], now)
    if paused:
        lines.append(desk.t("staff.request.paused", days=paused, due=due))
    lines += ["", desk.t("staff.request.history")]
    lines += [
        f"· {short_time(at)} {desk.t(f'staff.state.{s.value}')}"
        + (f": {shown_reason(note)}" if note else "")
        for at, s, note in request.history
    ]
    buttons = _decision_buttons(desk, request, regime.extension is not None)
    if change is not None and desk.may(Permission.LOOKUP_REVEAL.value):
        buttons.append((desk.button(desk.t("staff.button.reveal_change"), REVEAL, request.ref),))
    desk.say("\n".join(lines), *buttons)


async def _waiting_lines(desk: Desk, request: DataRequest) -> list[str]:
    """The open wait for the customer, if any, and what they answered."""
    lines = []
    regime = desk.core.policy.jurisdiction(request.jurisdiction)
    if (need := request.waiting_for) is not None:
        since = request.pauses[-1].since
        so_far = regime.paused_days(since, desk.uow.now())
        running = "running" if not regime.pauses_for_customer else "paused"
        what = desk.t(f"staff.need.{need.value}")
        lines.append(
            desk.t(
                f"staff.request.waiting_{running}",
                need=what,
                since=short_time(since),
                days=so_far,
                regime=regime.name,
            )
        )
    for at, text in await view_answers(ViewRequest(desk.by, request.ref), desk.uow):
        lines.append(desk.t("staff.request.answer", at=short_time(at), text=text))
    return lines


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
    rows = [tuple(row)] if row else []
    if desk.may(Permission.REQUEST_EXTEND.value):
        rows += _waiting_buttons(desk, request)
    return rows


def _waiting_buttons(desk: Desk, request: DataRequest) -> list[tuple[Button, ...]]:
    if request.state is RequestState.RECEIVED:
        return [
            tuple(
                desk.button(desk.t(f"staff.button.ask_{need.value}"), action, request.ref)
                for action, need in _ASK.items()
            )
        ]
    if request.waiting_for is not None:
        return [(desk.button(desk.t("staff.button.end_wait"), RESUME, request.ref),)]
    return []


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


async def on_ask(desk: Desk, press: Press) -> None:
    if not _REF.match(press.arg):
        desk.notify(desk.t("button.expired"))
        return
    request = await ask_customer(AskCustomer(desk.by, press.arg, _ASK[press.action]), desk.uow)
    desk.say(desk.t("staff.request.asked", ref=request.ref))


async def on_reason_needed(desk: Desk, press: Press) -> None:
    if not _REF.match(press.arg):
        desk.notify(desk.t("button.expired"))
        return
    step = {REJECT: "reject", EXTEND: "extend", REVEAL: "reveal", RESUME: "resume"}[press.action]
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
    decide = {"reject": reject_request, "extend": extend_with_notice, "resume": end_wait}
    request = await decide[str(step)](DecideRequest(desk.by, ref, text), desk.uow)
    due = local_due_date(request, desk.uow)
    desk.say(desk.t(f"staff.request.{_DONE[str(step)]}", ref=request.ref, due=due))


_DONE = {"reject": "rejected", "extend": "extended", "resume": "resumed"}


ACTIONS = {
    PAGE: on_page,
    OPEN: on_open,
    APPROVE: on_approve,
    REJECT: on_reason_needed,
    EXTEND: on_reason_needed,
    REVEAL: on_reason_needed,
    ASK_IDENTITY: on_ask,
    ASK_DETAIL: on_ask,
    RESUME: on_reason_needed,
}
