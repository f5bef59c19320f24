"""/survey: a short preference survey, resumable, with answers to view, edit, remove.

/survey     -> stopped part-way: [continue at question n] [my answers] [start again];
               else their answers, else question 1
option tap  -> answer saved, next question (single choice); an earlier answer shows chosen
toggle/done -> multiple choice; typed text answers a free-text question
skip / back / stop on every question ("stop", 停止 or 停 typed at a free-text question
               stops too); stop keeps the place; edit or remove any answer afterwards
"""

from __future__ import annotations

from typing import Any

from bot.conversation.events import Button
from bot.conversation.formatting import tick
from bot.conversation.turn import Press, Turn
from core.domain.survey import Answer, Question, QuestionKind
from core.errors import InvalidInput
from core.services import (
    RecordAnswer,
    RemoveAnswers,
    record_answer,
    remove_answers,
    survey_answers,
)

__all__ = ["ACTIONS", "leave", "on_survey_text", "start_survey"]


_STOP_WORDS = frozenset({"stop", "停止", "停", "暂停", "暫停"})


async def start_survey(turn: Turn) -> None:
    progress = _progress(turn)
    if progress is not None and progress.get("paused"):
        await _offer_continue(turn, progress)
        return
    if progress is not None:
        turn.say(turn.t("survey.resume"))
        await _ask(turn)
        return
    if await _answers(turn):
        await _show_answers(turn)
        return
    await _begin(turn)


async def on_survey_text(turn: Turn) -> bool:
    """Take typed text as the answer to a free-text question; False if none is open."""
    progress = _progress(turn)
    if progress is None or progress.get("paused"):
        return False
    question = turn.survey.questions[progress["q"]]
    if (turn.event.text or "").strip().lower() in _STOP_WORDS:
        _pause(turn, progress)
        turn.say(turn.t("survey.cancelled"))
        return True
    if question.kind is not QuestionKind.TEXT:
        turn.say(turn.t("survey.use_buttons"))
        await _ask(turn)
        return True
    await _record(turn, question, turn.event.text)
    return True


async def _offer_continue(turn: Turn, progress: dict[str, Any]) -> None:
    n, total = progress["q"] + 1, len(turn.survey.questions)
    turn.say(
        turn.t("survey.paused", n=n, total=total),
        (turn.button(turn.t("survey.continue_button", n=n), "qc"),),
        (
            turn.button(turn.t("survey.my_answers_button"), "qv"),
            turn.button(turn.t("survey.retake"), "qt"),
        ),
    )


def leave(turn: Turn) -> None:
    """Another command while the survey runs: it waits where it stands."""
    progress = _progress(turn)
    if progress is not None and not progress.get("single"):
        _pause(turn, progress)
    elif progress is not None:
        turn.state.pop("survey", None)  # editing one answer: nothing to come back to


def _pause(turn: Turn, progress: dict[str, Any]) -> None:
    """Stop keeps the place: /survey offers to continue at this question."""
    progress["paused"] = True
    turn.state["survey"] = progress


async def _begin(turn: Turn, index: int = 0, *, single: bool = False) -> None:
    turn.state["survey"] = {"q": index, "single": single, "picked": []}
    await _pick_earlier(turn)
    if not single:
        turn.say(turn.t("survey.intro", count=len(turn.survey.questions)))
    await _ask(turn)


def _progress(turn: Turn) -> dict[str, Any] | None:
    progress = turn.state.get("survey")
    if not isinstance(progress, dict) or not 0 <= progress.get("q", -1) < len(
        turn.survey.questions
    ):
        return None
    return progress


async def _answers(turn: Turn) -> dict[str, Answer]:
    return await survey_answers(turn.customer.ref, turn.survey.id, turn.uow)


async def _ask(turn: Turn, *, edit: bool = False) -> None:
    progress = _progress(turn)
    assert progress is not None
    t, index = turn.t, progress["q"]
    question = turn.survey.questions[index]
    text = t(
        "survey.question", n=index + 1, total=len(turn.survey.questions), text=t(question.text_key)
    )
    earlier = (await _answers(turn)).get(question.id)
    rows: list[tuple[Button, ...]] = []
    if question.kind is QuestionKind.SINGLE:
        chosen = earlier.value if earlier is not None else None
        rows = [
            (
                turn.button(
                    ("✓ " if o == chosen else "") + _option(turn, question, o),
                    "qa",
                    f"{question.id}:{o}",
                ),
            )
            for o in question.options
        ]
    elif question.kind is QuestionKind.MULTI:
        picked = progress.get("picked", [])
        rows = [
            (
                turn.button(
                    f"{tick(o in picked)} {_option(turn, question, o)}", "qm", f"{question.id}:{o}"
                ),
            )
            for o in question.options
        ]
        rows.append((turn.button(t("survey.done_button"), "qd", question.id),))
    else:
        text += "\n" + t("survey.type_answer", max=question.max_length)
        if earlier is not None and isinstance(earlier.value, str):
            text += "\n" + t("survey.earlier_answer", answer=earlier.value)
    nav = [turn.button(t("survey.skip"), "qk", question.id)]
    if index > 0 and not progress.get("single"):
        nav.insert(0, turn.button(t("survey.back"), "qb", question.id))
    nav.append(turn.button(t("survey.cancel"), "qx", question.id))
    rows.append(tuple(nav))
    turn.say(text, *rows, edit=edit)


def _option(turn: Turn, question: Question, option: str) -> str:
    return turn.t(f"survey.opt.{question.id}.{option}")


def _current(turn: Turn, question_id: str) -> Question | None:
    """The open question, if the press is for it; a press for any other is stale."""
    progress = _progress(turn)
    if progress is None:
        return None
    question = turn.survey.questions[progress["q"]]
    return question if question.id == question_id else None


async def _record(turn: Turn, question: Question, value: tuple[str, ...] | str) -> None:
    try:
        await record_answer(
            RecordAnswer(turn.customer.ref, turn.survey, question.id, value), turn.uow
        )
    except InvalidInput as error:
        turn.say(turn.t(f"error.{error.code}"))
        await _ask(turn)
        return
    turn.notify(turn.t("survey.saved"))
    await _advance(turn)


async def _advance(turn: Turn, step: int = 1) -> None:
    progress = _progress(turn)
    assert progress is not None
    index = progress["q"] + step
    if progress.get("single") or not 0 <= index < len(turn.survey.questions):
        turn.state.pop("survey", None)
        turn.say(turn.t("survey.finished"))
        await _show_answers(turn)
        return
    turn.state["survey"] = {"q": index, "single": False, "picked": []}
    await _pick_earlier(turn)
    await _ask(turn)


async def _pick_earlier(turn: Turn) -> None:
    """A multiple-choice question opens with the customer's earlier answer ticked."""
    progress = _progress(turn)
    assert progress is not None
    question = turn.survey.questions[progress["q"]]
    earlier = (await _answers(turn)).get(question.id)
    if question.kind is QuestionKind.MULTI and earlier is not None:
        progress["picked"] = [o for o in earlier.value if o in question.options]


async def _show_answers(turn: Turn, *, edit: bool = False) -> None:
    t, answers = turn.t, await _answers(turn)
    lines = [t("survey.your_answers")]
    rows: list[tuple[Button, ...]] = []
    for question in turn.survey.questions:
        answer = answers.get(question.id)
        lines.append(f"• {t(question.text_key)}\n    {_render(turn, question, answer)}")
        short = t(f"survey.short.{question.id}")
        row = [turn.button(f"✏️ {short}", "qe", question.id)]
        if answer is not None:
            row.append(turn.button(f"🗑 {short}", "qr", question.id))
        rows.append(tuple(row))
    rows.append(
        (turn.button(t("survey.retake"), "qt"), turn.button(t("survey.remove_all"), "qr", "*"))
    )
    turn.say("\n".join(lines), *rows, edit=edit)


def _render(turn: Turn, question: Question, answer: Answer | None) -> str:
    if answer is None:
        return turn.t("survey.no_answer")
    if isinstance(answer.value, str):
        return (
            answer.value
            if question.kind is QuestionKind.TEXT
            else _option(turn, question, answer.value)
        )
    return turn.t.join(_option(turn, question, o) for o in answer.value)


async def _on_single(turn: Turn, press: Press) -> None:
    question_id, _, option = press.arg.partition(":")
    question = _current(turn, question_id)
    if question is None or option not in question.options:
        turn.notify(turn.t("button.expired"))
        return
    await _record(turn, question, option)


async def _on_toggle(turn: Turn, press: Press) -> None:
    question_id, _, option = press.arg.partition(":")
    question = _current(turn, question_id)
    progress = _progress(turn)
    if question is None or progress is None or option not in question.options:
        turn.notify(turn.t("button.expired"))
        return
    picked: list[str] = progress.setdefault("picked", [])
    picked.remove(option) if option in picked else picked.append(option)
    await _ask(turn, edit=True)


async def _on_done(turn: Turn, press: Press) -> None:
    question = _current(turn, press.arg)
    progress = _progress(turn)
    if question is None or progress is None:
        turn.notify(turn.t("button.expired"))
        return
    await _record(turn, question, tuple(progress.get("picked", [])))


async def _on_skip(turn: Turn, press: Press) -> None:
    if _current(turn, press.arg) is None:
        turn.notify(turn.t("button.expired"))
        return
    await _advance(turn)


async def _on_back(turn: Turn, press: Press) -> None:
    if _current(turn, press.arg) is None:
        turn.notify(turn.t("button.expired"))
        return
    await _advance(turn, -1)


async def _on_cancel(turn: Turn, press: Press) -> None:
    progress = _progress(turn)
    if _current(turn, press.arg) is None or progress is None:
        turn.notify(turn.t("button.expired"))
        return
    if progress.get("single"):  # editing one answer: nothing to come back to
        turn.state.pop("survey", None)
        turn.say(turn.t("survey.edit_stopped"), edit=True)
        return
    _pause(turn, progress)
    turn.say(turn.t("survey.cancelled"), edit=True)


async def _on_continue(turn: Turn, press: Press) -> None:
    progress = _progress(turn)
    if progress is None or not progress.get("paused"):
        turn.notify(turn.t("button.expired"))
        return
    progress.pop("paused")
    await _ask(turn)


async def _on_view(turn: Turn, press: Press) -> None:
    await _show_answers(turn)


async def _on_edit(turn: Turn, press: Press) -> None:
    ids = [q.id for q in turn.survey.questions]
    if press.arg not in ids:
        turn.notify(turn.t("button.expired"))
        return
    await _begin(turn, ids.index(press.arg), single=True)


async def _on_retake(turn: Turn, press: Press) -> None:
    await _begin(turn)


async def _on_remove(turn: Turn, press: Press) -> None:
    ids = [q.id for q in turn.survey.questions]
    if press.arg != "*" and press.arg not in ids:
        turn.notify(turn.t("button.expired"))
        return
    question_id = None if press.arg == "*" else press.arg
    await remove_answers(RemoveAnswers(turn.customer.ref, turn.survey.id, question_id), turn.uow)
    turn.notify(turn.t("survey.removed"))
    await _show_answers(turn, edit=True)


ACTIONS = {
    "qa": _on_single,
    "qm": _on_toggle,
    "qd": _on_done,
    "qk": _on_skip,
    "qb": _on_back,
    "qx": _on_cancel,
    "qe": _on_edit,
    "qt": _on_retake,
    "qr": _on_remove,
    "qc": _on_continue,
    "qv": _on_view,
}
