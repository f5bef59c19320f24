"""Use cases: answer, view, edit and remove survey answers (preference data)."""

from __future__ import annotations

from dataclasses import dataclass

from core.domain.survey import Answer, Survey
from core.errors import PrivacyError
from core.services._common import customer_actor, refuse
from core.storage import UnitOfWork

__all__ = ["RecordAnswer", "RemoveAnswers", "record_answer", "remove_answers", "survey_answers"]


@dataclass(frozen=True)
class RecordAnswer:
    customer_ref: str
    survey: Survey
    question_id: str
    value: tuple[str, ...] | str


async def record_answer(cmd: RecordAnswer, uow: UnitOfWork) -> Answer:
    actor = customer_actor(cmd.customer_ref)
    customer = await uow.customers.get(cmd.customer_ref, lock=True)
    try:
        question = cmd.survey.question(cmd.question_id)
        value = question.validate(cmd.value)
    except PrivacyError as error:
        await refuse(uow, actor, "survey.answered", error, subject_ref=customer.ref)
    answer = Answer(cmd.survey.id, question.id, value, uow.now())
    await uow.surveys.put(customer.ref, answer)
    customer.touch(uow.now())
    await uow.customers.save(customer)
    # The answer itself is preference data: the audit names the question only.
    await uow.record(
        actor,
        "survey.answered",
        subject_ref=customer.ref,
        details={"survey": cmd.survey.id, "question": question.id},
    )
    return answer


@dataclass(frozen=True)
class RemoveAnswers:
    customer_ref: str
    survey_id: str
    question_id: str | None = None  # None: every answer of that survey


async def remove_answers(cmd: RemoveAnswers, uow: UnitOfWork) -> int:
    customer = await uow.customers.get(cmd.customer_ref, lock=True)
    removed = await uow.surveys.remove(customer.ref, cmd.survey_id, cmd.question_id)
    await uow.record(
        customer_actor(customer.ref),
        "survey.removed",
        subject_ref=customer.ref,
        details={"survey": cmd.survey_id, "question": cmd.question_id, "count": removed},
    )
    return removed


async def survey_answers(customer_ref: str, survey_id: str, uow: UnitOfWork) -> dict[str, Answer]:
    return {a.question_id: a for a in await uow.surveys.answers(customer_ref, survey_id)}
