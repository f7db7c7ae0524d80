"""Multiple-choice quiz questions: parse the many shapes a model answers in, never guess.

A model asked for one question gives it back in any of a dozen layouts: the correct option
in bold or with a check mark, ``Answer: C``, ``Correct answer: (b)``, ``The correct answer
is B``, an explanation before or after, numbered or not, options as ``A)``, ``a.``, ``(A)``,
``- A:``… :func:`parse_question` reads them all into a :class:`QuizQuestion` and raises
:class:`QuizParseError` with the reason whenever the question, the four options or the one
correct answer cannot be told with certainty. :func:`finalise` renumbers a set and
balances its correct positions deterministically.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace

from scribeflow.core.errors import ScribeflowError

LETTERS = "ABCD"
N_OPTIONS = 4


class QuizParseError(ScribeflowError):
    """The answer is not a question that can be read with certainty."""


@dataclass(frozen=True)
class QuizQuestion:
    question: str
    options: tuple[str, ...]
    #: Index of the correct option in ``options``.
    answer: int
    explanation: str = ""
    chunk_index: int | None = None
    number: int = 0

    @property
    def answer_letter(self) -> str:
        return LETTERS[self.answer]

    def to_dict(self) -> dict:
        row = asdict(self)
        row["options"] = list(self.options)
        row["answer_letter"] = self.answer_letter
        return row

    @classmethod
    def from_dict(cls, row: dict) -> QuizQuestion:
        return cls(question=row["question"], options=tuple(row["options"]), answer=row["answer"],
                   explanation=row.get("explanation", ""), chunk_index=row.get("chunk_index"),
                   number=row.get("number", 0))


_CHECK = "✓✔✅☑"
# "A)", "a.", "(A)", "- A:", "**B)**", "A -", "[C]", "D]" at the start of a line
_OPTION = re.compile(
    r"^\s*(?:[-*•]\s+)?(?P<pre>\*\*|__)?\s*[(\[]?(?P<letter>[A-Da-d])\s*(?:[).:\]]|\s-\s)"
    r"(?P<post>\*\*|__)?\s*(?P<text>.*\S)?\s*$"
)
_ANSWER = re.compile(
    r"^\W*(?:the\s+)?(?:correct\s+answer|right\s+answer|answer\s+key|answer|solution)"
    r"(?:\s+is)?\s*(?:[:\-–=]|\bis\b)?\s*\**\s*[(\[]?\s*(?P<letter>[A-Da-d])\b\s*[)\].:]?",
    re.IGNORECASE,
)
_EXTRA_OPTION = re.compile(r"^\s*(?:[-*•]\s+)?(?:\*\*)?[(\[]?[E-He-h]\s*[).:\]]\s+\S")
_EXPLANATION = re.compile(r"^\W*(?:explanation|rationale|reason|why)\s*[:\-–]\s*(?P<text>.*)$",
                          re.IGNORECASE)
_QUESTION_PREFIX = re.compile(
    r"^\W*(?:(?:question|q)\s*\d*\s*[:.)\-–]?|\d+\s*[.)]|#+)\s*", re.IGNORECASE)
_CORRECT_TAG = re.compile(r"\s*[(\[]\s*(?:correct(?:\s+answer)?|right answer|answer)\s*[)\]]\s*$",
                          re.IGNORECASE)
_BOLD = re.compile(r"^(\*\*|__)(.+?)\1$")


def parse_question(text: str) -> QuizQuestion:
    """One question with exactly four options and one certain correct answer, or an error."""
    lines = [line.rstrip() for line in (text or "").strip().splitlines()]
    if not any(line.strip() for line in lines):
        raise QuizParseError("empty answer")
    question_lines: list[str] = []
    options: dict[str, str] = {}
    marked: list[str] = []
    stated: list[str] = []
    explanation: list[str] = []
    in_explanation = False
    for raw in lines:
        line = raw.strip()
        if not line:
            continue
        option = _OPTION.match(line)
        answer = _ANSWER.match(line)
        note = _EXPLANATION.match(line)
        if answer and not option:
            stated.append(answer.group("letter").upper())
            rest = line[answer.end():].strip(" *")
            if rest and not _EXPLANATION.match(rest):
                explanation_from_answer = re.sub(r"^[-–:,.]\s*", "", rest)
                if len(explanation_from_answer.split()) > 3:
                    explanation.append(explanation_from_answer)
            in_explanation = False
            continue
        if note:
            in_explanation = True
            if note.group("text").strip():
                explanation.append(note.group("text").strip())
            continue
        if option:
            letter = option.group("letter").upper()
            body = (option.group("text") or "").strip()
            pre = option.group("pre")
            bold = bool(pre and (option.group("post") or body.endswith(pre)))
            if pre and body.endswith(pre):
                body = body[: -len(pre)]
            bold = bold or bool(_BOLD.match(body))
            body = _BOLD.sub(r"\2", body).strip()
            checked = any(mark in body for mark in _CHECK)
            body = body.strip(_CHECK + " ").strip()
            tagged = bool(_CORRECT_TAG.search(body))
            body = _CORRECT_TAG.sub("", body).strip()
            body = _BOLD.sub(r"\2", body).strip(" *_")
            if letter in options:
                raise QuizParseError(f"option {letter} appears twice")
            if not body:
                raise QuizParseError(f"option {letter} is empty")
            options[letter] = body
            if bold or checked or tagged:
                marked.append(letter)
            in_explanation = False
            continue
        if _EXTRA_OPTION.match(line):
            raise QuizParseError(f"more than {N_OPTIONS} options: {line[:40]!r}")
        if in_explanation or (options and len(options) == N_OPTIONS):
            explanation.append(line)
            continue
        if options:
            raise QuizParseError(f"unexpected text among the options: {line[:60]!r}")
        question_lines.append(line)
    question = " ".join(_clean_question(q) for q in question_lines).strip()
    if not question:
        raise QuizParseError("no question text")
    if sorted(options) != list(LETTERS[: len(options)]) or len(options) != N_OPTIONS:
        raise QuizParseError(f"expected options A-D, found {''.join(sorted(options)) or 'none'}")
    if len(set(o.lower() for o in options.values())) != N_OPTIONS:
        raise QuizParseError("two options have the same text")
    candidates = set(marked) | set(stated)
    if not candidates:
        raise QuizParseError("no correct answer is marked or stated")
    if len(candidates) > 1:
        raise QuizParseError(f"conflicting correct answers: {', '.join(sorted(candidates))}")
    answer = LETTERS.index(candidates.pop())
    return QuizQuestion(
        question=question,
        options=tuple(options[letter] for letter in LETTERS),
        answer=answer,
        explanation=_explanation(" ".join(explanation), options[LETTERS[answer]]),
    )


def _plain(text: str) -> str:
    """``text`` without Markdown's emphasis markers (``**bold**``, ``*it*``, a stray ``**``)."""
    text = re.sub(r"(\*\*|__)(.+?)\1", r"\2", text)
    text = re.sub(r"(?<![\w*])\*(?=\S)([^*]+?)(?<=\S)\*(?![\w*])", r"\1", text)
    text = re.sub(r"(?<!\w)_(?=\S)([^_]+?)(?<=\S)_(?!\w)", r"\1", text)
    return " ".join(text.replace("**", " ").replace("__", " ").split())


def _explanation(text: str, correct: str) -> str:
    """The explanation as plain text, without a restatement of the answer it may open with
    (``Answer: B) Condensation.``, ``Condensation.``)."""
    text = _plain(text)
    restated = re.match(r"(?:(?:the\s+)?(?:correct\s+)?answer(?:\s+is)?\s*[:\-–]?\s*)?"
                        r"(?:[(\[]?[A-D][)\].:]\s*)?" + re.escape(correct) + r"\s*(?:[.!:]\s*|$)",
                        text, re.IGNORECASE)
    return text[restated.end():].strip() if restated else text


def check_question(question: QuizQuestion) -> QuizQuestion:
    """``question`` if it can be used as it is (a structured answer's fields), else an error."""
    if not question.question:
        raise QuizParseError("no question text")
    for letter, option in zip(LETTERS, question.options, strict=True):
        if not option:
            raise QuizParseError(f"option {letter} is empty")
    if len({o.lower() for o in question.options}) != N_OPTIONS:
        raise QuizParseError("two options have the same text")
    return replace(question, explanation=_explanation(question.explanation,
                                                      question.options[question.answer]))


def _clean_question(line: str) -> str:
    line = _QUESTION_PREFIX.sub("", line).strip()
    return re.sub(r"^(\*\*|__)(.*?)\1$", r"\2", line).strip(" *_")


def finalise(questions: Sequence[QuizQuestion], seed: str) -> list[QuizQuestion]:
    """Number questions from 1 and move each correct option so that positions A-D are used
    evenly, in an order derived from ``seed`` (the same input always gives the same quiz)."""
    n = len(questions)
    targets = [i % N_OPTIONS for i in range(n)]
    keyed = sorted(range(n), key=lambda i: hashlib.sha256(f"{seed}:{i}".encode()).hexdigest())
    order = {question_index: targets[rank] for rank, question_index in enumerate(keyed)}
    out = []
    for i, q in enumerate(questions):
        target = order[i]
        options = list(q.options)
        options[q.answer], options[target] = options[target], options[q.answer]
        out.append(replace(q, options=tuple(options), answer=target, number=i + 1))
    return out


def student_markdown(title: str, questions: Sequence[QuizQuestion]) -> str:
    """The quiz without answers."""
    parts = [f"# Quiz: {title}", ""]
    for q in questions:
        parts.append(f"**{q.number}. {q.question}**")
        parts.append("")
        parts.extend(f"- {LETTERS[i]}) {option}" for i, option in enumerate(q.options))
        parts.append("")
    return "\n".join(parts)


def answer_key_markdown(title: str, questions: Sequence[QuizQuestion]) -> str:
    parts = [f"# Answer key: {title}", ""]
    for q in questions:
        line = f"{q.number}. **{q.answer_letter}**) {q.options[q.answer]}"
        parts.append(line + (f" — {q.explanation}" if q.explanation else ""))
    return "\n".join(parts) + "\n"
