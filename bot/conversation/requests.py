"""/requests: the customer's data requests, and what they can still do about each.

/requests        -> each request: kind (and field), state, received, due (their time
                    zone), who was told, days the clock stood still for them
[Cancel ...]     -> one still waiting for staff: cancelled, receipt
[Confirm it is me] (the shop asked for proof) -> share your own contact -> it goes on
[Answer ...]     (the shop asked a question)  -> type the answer -> it goes on
"""

from __future__ import annotations

from datetime import datetime

from bot.conversation.events import Button, Reply
from bot.conversation.formatting import local_time
from bot.conversation.turn import Press, Turn
from bot.render.notices import request_what
from core.domain.requests import DataRequest, Waiting
from core.errors import InvalidTransition, NotFound
from core.services import CancelRequest, cancel_request, customer_requests
from core.services.requests import MAX_ANSWER, AnswerRequest, answer_request

__all__ = ["ACTIONS", "COMMANDS", "describe", "on_answer_text", "show_requests"]

CANCEL, CONFIRM, ANSWER = "rk", "rw", "ra"


async def show_requests(turn: Turn) -> None:
    t = turn.t
    mine = await customer_requests(turn.customer.ref, turn.uow)
    if not mine:
        turn.say(t("rights.requests.none"))
        return
    zone = turn.customer.zone(turn.core.policy.zone)
    lines = [t("rights.requests.title", zone=str(zone))]
    buttons: list[tuple[Button, ...]] = []
    for r in reversed(mine[-20:]):
        lines += await _lines(turn, r)
        buttons += _buttons(turn, r)
    turn.say("\n".join(lines), *buttons[:5])


async def _lines(turn: Turn, r: DataRequest) -> list[str]:
    t = turn.t
    lines = [
        t(
            "rights.requests.line",
            kind=describe(turn, r),
            state=t(f"rights.state.{r.state.value}"),
            request=r.ref,
            received=local_time(turn, r.received_at),
            due=local_time(turn, r.due_at),
        )
        + (t("rights.requests.extended") if r.extended else "")
    ]
    if told := await turn.uow.requests.confirmations(r.ref):
        lines.append(t("rights.requests.confirmed", systems=", ".join(sorted(told))))
    if (need := r.waiting_for) is not None:
        since = local_time(turn, r.pauses[-1].since)
        lines.append(t(f"rights.requests.waiting_{need.value}", since=since))
    regime = turn.core.policy.jurisdiction(r.jurisdiction)
    if paused := regime.paused_total(r.pauses, turn.uow.now()):
        lines.append(t("rights.requests.paused", days=paused))
    return lines


def _buttons(turn: Turn, r: DataRequest) -> list[tuple[Button, ...]]:
    what, day = describe(turn, r), _day(turn, r.received_at)
    rows: list[tuple[Button, ...]] = []
    if r.waiting_for is Waiting.IDENTITY:
        label = turn.t("rights.requests.confirm_button", what=what, day=day)
        rows.append((turn.button(label, CONFIRM, r.ref),))
    if r.waiting_for is Waiting.CLARIFICATION:
        label = turn.t("rights.requests.answer_button", what=what, day=day)
        rows.append((turn.button(label, ANSWER, r.ref),))
    if r.state.cancellable:
        label = turn.t("rights.requests.cancel", what=what, day=day)
        rows.append((turn.button(label, CANCEL, r.ref),))
    return rows


def describe(turn: Turn, request: DataRequest) -> str:
    """The request's kind, and its field for a correction: "Correction: email"."""
    return request_what(turn.t, request.kind.value, request.detail)


def _day(turn: Turn, at: datetime) -> str:
    return at.astimezone(turn.customer.zone(turn.core.policy.zone)).date().isoformat()


async def on_cancel_press(turn: Turn, press: Press) -> None:
    try:
        request = await cancel_request(CancelRequest(turn.customer.ref, press.arg), turn.uow)
    except NotFound:
        turn.notify(turn.t("button.expired"))
        return
    key = "rights.requests.cancelled_change" if request.detail else "rights.requests.cancelled"
    turn.say(turn.t(key, what=describe(turn, request), request=request.ref))


async def on_confirm_press(turn: Turn, press: Press) -> None:
    """Proof of identity: their own contact, shared from this account (rights.on_contact)."""
    if not await _waiting(turn, press.arg, Waiting.IDENTITY):
        return
    turn.state["rights"] = {"await": "claim"}
    turn.reply(
        Reply(
            text=turn.t("rights.requests.confirm_ask"),
            ask_contact=turn.t("rights.button.share_contact"),
        )
    )


async def on_answer_press(turn: Turn, press: Press) -> None:
    if not await _waiting(turn, press.arg, Waiting.CLARIFICATION):
        return
    turn.state["answer"] = press.arg
    request = await turn.uow.requests.get(press.arg)
    what = describe(turn, request)
    turn.say(turn.t("rights.requests.answer_ask", what=what, request=request.ref, max=MAX_ANSWER))


async def _waiting(turn: Turn, ref: str, need: Waiting) -> bool:
    """The press is for one of this customer's requests, waiting for ``need``."""
    mine = {r.ref: r for r in await customer_requests(turn.customer.ref, turn.uow)}
    if ref not in mine or mine[ref].waiting_for is not need:
        turn.notify(turn.t("button.expired"))
        return False
    return True


async def on_answer_text(turn: Turn) -> bool:
    """Typed text answering the shop's question; False when none was asked."""
    ref = turn.state.get("answer")
    if not isinstance(ref, str):
        return False
    text = turn.event.text or ""
    if not text.strip() or len(" ".join(text.split())) > MAX_ANSWER:
        turn.say(turn.t("rights.requests.answer_too_long", max=MAX_ANSWER))
        return True  # still waiting for an answer that fits
    turn.state.pop("answer", None)
    try:
        request = await answer_request(AnswerRequest(turn.customer.ref, ref, text), turn.uow)
    except (NotFound, InvalidTransition):
        turn.say(turn.t("button.expired"))
        return True
    turn.say(
        turn.t(
            "rights.requests.answered", request=request.ref, due=local_time(turn, request.due_at)
        )
    )
    return True


ACTIONS = {CANCEL: on_cancel_press, CONFIRM: on_confirm_press, ANSWER: on_answer_press}
COMMANDS = {"requests": show_requests}
