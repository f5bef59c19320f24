"""Preference surveys defined as data, and the customer's answers."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path

from core.errors import ConfigurationError, InvalidInput

__all__ = ["Answer", "Question", "QuestionKind", "Survey", "load_survey"]


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
        if self.kind is QuestionKind.SINGLE:
            if len(choices) != 1:
                raise InvalidInput("pick exactly one option", code="bad_option")
            return choices[0]
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


_DEFAULT_SURVEY = Path(__file__).resolve().parent.parent / "policy" / "survey.toml"


def load_survey(path: Path | None = None) -> Survey:
    """The survey from a TOML file; a broken file names the file and the key."""
    source = path or _DEFAULT_SURVEY
    try:
        data = tomllib.loads(source.read_text("utf-8"))
        questions = tuple(
            _question(q, f"questions[{i}]", source) for i, q in enumerate(data["questions"])
        )
        survey = Survey(id=str(data["id"]), title_key=str(data["title"]), questions=questions)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError(f"{source}: cannot read the survey: {exc}") from exc
    except KeyError as exc:
        raise ConfigurationError(f"{source}: missing key {exc.args[0]!r}") from exc
    if len({q.id for q in questions}) != len(questions):
        raise ConfigurationError(f"{source}: questions: two questions share an id")
    return survey


def _question(raw: dict[str, object], where: str, source: Path) -> Question:
    try:
        kind = QuestionKind(str(raw["kind"]))
    except ValueError:
        raise ConfigurationError(
            f"{source}: {where}.kind: expected single, multi or text, got {raw['kind']!r}"
        ) from None
    options = raw.get("options", [])
    if not isinstance(options, list) or (kind is not QuestionKind.TEXT and not options):
        raise ConfigurationError(f"{source}: {where}.options: a choice question needs options")
    max_length = raw.get("max_length", 500)
    return Question(
        id=str(raw["id"]),
        kind=kind,
        text_key=str(raw["text"]),
        options=tuple(str(o) for o in options),
        max_length=int(max_length) if isinstance(max_length, int) else 500,
    )
