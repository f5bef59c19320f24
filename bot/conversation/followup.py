"""The post-purchase follow-up: thanks, two or three one-tap questions, one-tap stop.

The message is proactive (the worker sends it, no customer event started it),
so it has no Turn of its own. The worker builds one (``compose``) with a token
that ``mark_state`` has put into the customer's saved conversation state in the
same transaction that marked the follow-up "sending"; presses then validate in
the engine like any other button (bot/conversation/turn.py).

answer tap -> preference data (core.services.record_answer), next question in place
stop tap   -> follow_up consent withdrawn (core.services.decide_consent), receipt shown

Where the follow-up purpose is direct marketing, the message says so and how to
stop it (PDPO s.35F), and "stop" is the one-tap marketing opt-out: every marketing
consent withdrawn at once (core.services.opt_out_of_marketing), a receipt for each.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.conversation.consent import send_receipt
from bot.conversation.events import Button, EventKind, Incoming, Reply
from bot.conversation.formatting import local_time
from bot.conversation.turn import Press, Turn, accept_keyboard
from core.app import PrivacyCore
from core.domain.customer import Customer
from core.domain.survey import Question
from core.services import (
    DecideConsent,
    RecordAnswer,
    current_consents,
    decide_consent,
    record_answer,
)
from core.services.consent import OptOutOfMarketing, opt_out_of_marketing
from core.services.outreach.followups import followup_survey

__all__ = ["ACTIONS", "compose", "mark_state"]

ANSWER, STOP = "fa", "fx"
_STATE = "followup"


def mark_state(state: dict[str, Any], token: str, order_id: str) -> None:
    """Accept presses carrying ``token`` and remember where the follow-up stands."""
    accept_keyboard(state, token, ACTIONS)
    state[_STATE] = {"order": order_id, "q": 0}


def compose(
    core: PrivacyCore,
    customer: Customer,
    chat_id: int,
    token: str,
    purchased_at: datetime | None,
) -> Reply:
    """The follow-up message (no item details: the chat is not where the order lives)."""
    event = Incoming(user_id=chat_id, chat_id=chat_id, kind=EventKind.COMMAND, text=_STATE)
    turn = Turn(core, event, customer, {}, followup_survey(), _token=token)
    when = local_time(turn, purchased_at)[:10] if purchased_at else ""
    intro = turn.t("followup.thanks", date=when) if when else turn.t("followup.thanks_undated")
    if _is_marketing(turn):
        intro += "\n\n" + turn.t("followup.marketing_notice")
    _ask(turn, 0, intro)
    return turn.outcome.replies[0]


def _ask(turn: Turn, index: int, intro: str = "", *, edit: bool = False) -> None:
    survey = turn.survey
    question = survey.questions[index]
    text = turn.t(
        "followup.question",
        n=index + 1,
        total=len(survey.questions),
        text=turn.t(question.text_key),
    )
    rows: list[tuple[Button, ...]] = [
        (turn.button(_option(turn, question, o), ANSWER, f"{question.id}:{o}"),)
        for o in question.options
    ]
    stop = "followup.stop_marketing_button" if _is_marketing(turn) else "followup.stop_button"
    rows.append((turn.button(turn.t(stop), STOP),))
    turn.say(f"{intro}\n\n{text}" if intro else text, *rows, edit=edit)


def _is_marketing(turn: Turn) -> bool:
    return turn.core.policy.purpose(turn.core.policy.followup_purpose).marketing


def _option(turn: Turn, question: Question, option: str) -> str:
    return turn.t(f"followup.opt.{question.id}.{option}")


def _progress(turn: Turn) -> dict[str, Any] | None:
    progress = turn.state.get(_STATE)
    if not isinstance(progress, dict):
        return None
    index = progress.get("q")
    if not isinstance(index, int) or not 0 <= index < len(turn.survey.questions):
        return None
    return progress


async def on_answer(turn: Turn, press: Press) -> None:
    turn.survey = followup_survey()
    progress = _progress(turn)
    question_id, _, option = press.arg.partition(":")
    if progress is None:
        turn.notify(turn.t("button.expired"))
        return
    question = turn.survey.questions[progress["q"]]
    if question.id != question_id or option not in question.options:
        turn.notify(turn.t("button.expired"))
        return
    await record_answer(RecordAnswer(turn.customer.ref, turn.survey, question.id, option), turn.uow)
    turn.notify(turn.t("followup.saved"))
    following = progress["q"] + 1
    if following < len(turn.survey.questions):
        progress["q"] = following
        _ask(turn, following, edit=True)
        return
    turn.state.pop(_STATE, None)
    turn.say(turn.t("followup.finished"), edit=True)


async def on_stop(turn: Turn, press: Press) -> None:
    """One tap: no more follow-ups. Withdrawing is as easy as giving (GDPR Art. 7(3))."""
    purpose = turn.core.policy.followup_purpose
    turn.state.pop(_STATE, None)
    if _is_marketing(turn):
        await _opt_out(turn)
        return
    entry = (await current_consents(turn.customer.ref, turn.uow)).get(purpose)
    # The ledger's raw "given", not "in force": a consent given under an older notice
    # sends nothing, but "stop" still records its withdrawal, so the ledger says so.
    if entry is None or not entry.given:
        turn.say(turn.t("followup.already_stopped"), edit=True)
        return
    entry = await decide_consent(
        DecideConsent(turn.customer.ref, purpose, False, channel=turn.event.channel), turn.uow
    )
    turn.say(turn.t("followup.stopped"), edit=True)
    send_receipt(turn, entry)


async def _opt_out(turn: Turn) -> None:
    """PDPO s.35G: stop using their data in direct marketing, at once."""
    cmd = OptOutOfMarketing(turn.customer.ref, turn.event.channel)
    withdrawn = await opt_out_of_marketing(cmd, turn.uow)
    if not withdrawn:
        turn.say(turn.t("followup.already_stopped"), edit=True)
        return
    turn.say(turn.t("followup.marketing_stopped"), edit=True)
    for entry in withdrawn:
        send_receipt(turn, entry)


ACTIONS = {ANSWER: on_answer, STOP: on_stop}
