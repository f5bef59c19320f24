"""An authorized agent's request, asked of the customer in their own chat.

    🤝 CONSUMER_AGENT says you asked it to erase your personal information ...
    [✅ Yes, it was me]  [🚫 No, I did not ask for this]

Yes: the request goes on as if asked here (deletion, a copy, the categories held, or
lifting an opt-out of sale), on the customer's own legal clock, and anything it
produces comes to this chat, never to the agent. No: the agent's request is refused
as suspected fraud and the staff are alerted. The core decides
(``core.services.agents.confirmation``); this module only writes and reads the chat.
"""

from __future__ import annotations

from typing import Any

from bot.conversation import rights
from bot.conversation.events import EventKind, Incoming, Reply
from bot.conversation.turn import Press, Turn, accept_keyboard
from core.app import PrivacyCore
from core.domain.agent_request import AgentAction, AgentRequest
from core.domain.customer import Customer
from core.errors import InvalidTransition, NotFound
from core.services.agents.confirmation import AnswerAgent, Answered, answer_agent_request
from core.services.outreach.followups import followup_survey

__all__ = ["ACTIONS", "compose_question", "mark_state"]

ANSWER = "ag"


def mark_state(state: dict[str, Any], token: str) -> None:
    """Accept presses carrying ``token`` (the question's two buttons)."""
    accept_keyboard(state, token, ACTIONS)


def compose_question(
    core: PrivacyCore, customer: Customer, request: AgentRequest, token: str
) -> Reply:
    event = Incoming(user_id=0, chat_id=0, kind=EventKind.COMMAND, text="agent")
    turn = Turn(core, event, customer, {}, followup_survey(), _token=token)  # renders only
    t = turn.t
    text = t(
        "agent.question",
        agent=request.agent_id,
        what=t(f"agent.what.{request.action.value}"),
    )
    return Reply(
        text=text,
        buttons=(
            (turn.button(t("agent.button.yes"), ANSWER, f"y:{request.request_id}"),),
            (turn.button(t("agent.button.no"), ANSWER, f"n:{request.request_id}"),),
        ),
    )


async def on_answer(turn: Turn, press: Press) -> None:
    t = turn.t
    answer, _, request_id = press.arg.partition(":")
    if answer not in ("y", "n") or not request_id:
        turn.notify(t("button.expired"))
        return
    cmd = AnswerAgent(turn.customer.ref, request_id, answer == "y", turn.event.channel)
    try:
        async with turn.uow.attempt():  # a refusal is answered here, and the turn goes on
            answered = await answer_agent_request(cmd, turn.uow)
    except (NotFound, InvalidTransition):
        turn.say(t("agent.answer.closed"))
        return
    if answer == "n":
        turn.say(t("agent.answer.no", agent=answered.request.agent_id), edit=True)
        return
    await _go_on(turn, answered)


async def _go_on(turn: Turn, answered: Answered) -> None:
    """What the customer would have seen had they asked here themselves."""
    action, found = answered.request.action, answered.data_request
    if found is None:  # refused on the way (too many copies this hour)
        turn.say(turn.t("agent.answer.too_many", limit=turn.core.policy.export_rate_limit))
        return
    turn.say(turn.t("agent.answer.yes", agent=answered.request.agent_id), edit=True)
    if action is AgentAction.DELETION:
        await rights.erasure_opened(turn, found, edit=False)
    elif action is AgentAction.SALE_OPT_IN:
        turn.say(turn.t("agent.answer.opted_in"))
    elif action is AgentAction.ACCESS_CATEGORIES:
        await rights.my_data(turn)
    else:
        await rights.send_copy(turn, found, answered.background)


ACTIONS = {ANSWER: on_answer}
