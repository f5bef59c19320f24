"""Preference surveys defined as data, and the customer's answers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from core.errors import InvalidInput

__all__ = ["Answer", "Question", "QuestionKind", "Survey"]


class QuestionKind(StrEnum):
    SINGLE = "single"
    MULTI = "multi"
    TEXT = "text"


@dataclass(frozen=True)
class Question:
    id: str
    kind: QuestionKind
    text_key: str
    options: tuple[str, ...] = ()
    max_length: int = 500

    def validate(self, value: tuple[str, ...] | str) -> tuple[str, ...] | str:
        """Return the value if it is an acceptable answer, else raise InvalidInput."""
        if self.kind is QuestionKind.TEXT:
            if not isinstance(value, str) or not value.strip():
                raise InvalidInput("a text answer must not be empty", code="empty_answer")
            if len(value) > self.max_length:
                raise InvalidInput("the answer is too long", code="answer_too_long")
            return value.strip()
        choices = (value,) if isinstance(value, str) else value
        unknown = [c for c in choices if c not in self.options]
        if unknown or not choices:
            raise InvalidInput("not one of the question's options", code="bad_option")
        if self.kind is QuestionKind.SINGLE and len(choices) != 1:
            raise InvalidInput("pick exactly one option", code="bad_option")
        return tuple(o for o in self.options if o in choices)


@dataclass(frozen=True)
class Survey:
    id: str
    title_key: str
    questions: tuple[Question, ...]

    def question(self, question_id: str) -> Question:
        for q in self.questions:
            if q.id == question_id:
                return q
        raise InvalidInput("no such question", code="bad_question")

    def index(self, question_id: str) -> int:
        return self.questions.index(self.question(question_id))


@dataclass(frozen=True)
class Answer:
    survey_id: str
    question_id: str
    value: tuple[str, ...] | str
    answered_at: datetime
