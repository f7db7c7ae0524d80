"""Structured answers for the study stages: the JSON Schema each stage asks for, and its
strict reader.

OpenAI, vLLM, Ollama and llama.cpp accept ``response_format={"type": "json_schema", …}``
and then answer with JSON that fits the schema. The answer is still validated here (a
server may support the parameter loosely), and an answer that is not JSON at all (a server
that ignores the parameter) goes to the stage's tolerant text parser. A server that rejects
the parameter is remembered (:mod:`scribeflow.writing.llm`) and asked in the text format instead.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from scribeflow.core.errors import ScribeflowError
from scribeflow.writing.chapters import ChapterParseError, parse_proposals
from scribeflow.writing.cited import AnswerParseError, parse_answer, read_answer
from scribeflow.writing.quality import ScoreParseError, parse_score
from scribeflow.writing.quiz import (
    LETTERS,
    QuizParseError,
    QuizQuestion,
    check_question,
    parse_question,
)
from scribeflow.writing.summarize import SummaryParseError, check_proposal, parse_summary

T = TypeVar("T")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Chapter(_Strict):
    title: str = Field(description="at most 8 words")
    start: str = Field(description="the exact sentence of the passage where the chapter starts")


class _Chapters(_Strict):
    chapters: list[_Chapter]


class _Question(_Strict):
    question: str
    options: list[str] = Field(min_length=4, max_length=4)
    answer: Literal["A", "B", "C", "D"]
    explanation: str


class _KeyPoint(_Strict):
    point: str = Field(description="one key point, in one sentence")
    quote: str = Field(description="the exact sentence of the transcript the point summarises")


class _Summary(_Strict):
    abstract: str = Field(description="2-4 sentences")
    key_points: list[_KeyPoint]


class _Answer(_Strict):
    found: bool = Field(description="whether the passages hold the answer")
    answer: str = Field(description="the answer, each sentence citing passages as [1]")


class _Score(_Strict):
    score: int = Field(ge=0, le=100)


@dataclass(frozen=True)
class AnswerFormat(Generic[T]):
    """One stage's answer: its schema and readers."""

    name: str
    model: type[BaseModel]
    read: Callable[[Any], T]
    parse_text: Callable[[str], T]
    error: type[ScribeflowError]

    def response_format(self) -> dict[str, Any]:
        return {"type": "json_schema", "json_schema": {
            "name": self.name, "strict": True, "schema": self.model.model_json_schema()}}

    def parse(self, text: str, structured: bool) -> T:
        """The answer's value. ``structured``: it was asked with the schema, so JSON is read
        strictly; an answer that is not JSON at all goes to the text parser."""
        if structured:
            data = _json(text)
            if data is not None:
                try:
                    return self.read(self.model.model_validate(data))
                except ValidationError as exc:
                    first = exc.errors()[0]
                    where = ".".join(str(p) for p in first["loc"]) or "answer"
                    raise self.error(f"answer does not fit the {self.name} schema: {where}: "
                                     f"{first['msg']}") from None
        return self.parse_text(text)


    def readable(self, text: str, structured: bool) -> bool:
        try:
            self.parse(text, structured)
        except ScribeflowError:
            return False
        return True


def _json(text: str) -> Any | None:
    """The JSON object of an answer (possibly fenced), or None when it is not JSON."""
    body = re.sub(r"\A\s*```(?:json)?\s*|\s*```\s*\Z", "", text or "")
    try:
        value = json.loads(body)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _chapters(answer: _Chapters) -> list[tuple[str, str]]:
    pairs = [(c.title.strip(), c.start.strip()) for c in answer.chapters
             if c.title.strip() and c.start.strip()]
    if not pairs:
        raise ChapterParseError("no chapters in the answer")
    return pairs


def _question(answer: _Question) -> QuizQuestion:
    return check_question(QuizQuestion(
        question=answer.question.strip(), options=tuple(o.strip() for o in answer.options),
        answer=LETTERS.index(answer.answer), explanation=answer.explanation.strip()))


CHAPTERS = AnswerFormat("chapters", _Chapters, _chapters, parse_proposals, ChapterParseError)
QUIZ_QUESTION = AnswerFormat("quiz_question", _Question, _question, parse_question, QuizParseError)
SUMMARY = AnswerFormat("summary", _Summary,
                        lambda a: check_proposal(a.abstract, [(p.point, p.quote)
                                                              for p in a.key_points]),
                        parse_summary, SummaryParseError)
ANSWER = AnswerFormat("answer", _Answer, lambda a: read_answer(a.found, a.answer),
                      parse_answer, AnswerParseError)
QUALITY_SCORE = AnswerFormat("quality_score", _Score, lambda a: a.score, parse_score,
                             ScoreParseError)
