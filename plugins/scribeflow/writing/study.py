"""The study outputs' LLM work: chapters, quiz questions (one per call) and the quality score.

Each answer goes through the same client (bounded concurrency, retries, refusal fallback,
the answer cache) and a strict reader: JSON that fits the stage's schema where the endpoint
takes JSON Schemas (:mod:`scribeflow.writing.answers`), else the stage's tolerant text parser; an answer that cannot be parsed is asked again with a
reminder of the format, and after ``attempts`` it is dropped with its reason logged, never
guessed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from scribeflow.core.cache import LLMCache
from scribeflow.core.endpoints import LLMSettings
from scribeflow.core.errors import ScribeflowError
from scribeflow.core.records import Segment
from scribeflow.writing.answers import (
    CHAPTERS,
    QUALITY_SCORE,
    QUIZ_QUESTION,
    SUMMARY,
    AnswerFormat,
)
from scribeflow.writing.chapters import Chapter, locate, merge
from scribeflow.writing.llm import FormatRejected, LLMClient, Refused, Unusable
from scribeflow.writing.prompts import Prompt, load_prompt
from scribeflow.writing.quiz import LETTERS, QuizQuestion, finalise
from scribeflow.writing.summarize import KEY_POINTS, Proposal, key_moments, unrelated

log = logging.getLogger(__name__)
T = TypeVar("T")
RETRY_NOTE = ("\n\n(Attempt {n}.) Your previous answer could not be read. Follow the answer "
              "format exactly.")


@dataclass
class Outcome:
    value: Any = None
    dropped: list[str] = field(default_factory=list)
    requests: int = 0
    reused: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0


async def ask_for(llm: LLMClient, prompt: Prompt, form: AnswerFormat[T], attempts: int,
               what: str, check: Callable[[T], str | None] | None = None,
               **variables: Any) -> tuple[T | None, list[str]]:
    """Ask until an answer can be read; the reasons of every rejected answer. An endpoint
    that takes JSON Schemas is asked for ``form``'s schema, any other in the text format.
    ``check`` says why a readable answer is unusable (it is about something else): such an
    answer is asked again and never cached, and after the client's tries the client's
    :class:`~scribeflow.writing.llm.Unusable` is raised."""
    reasons: list[str] = []
    attempt = 0
    while attempt < attempts:
        structured = llm.takes_schemas()
        text = prompt.render(structured=structured, **variables) + (
            RETRY_NOTE.format(n=attempt + 1) if attempt else "")
        try:
            answer = await llm.complete(
                text, cache_as=(prompt.name, prompt.version),
                response_format=form.response_format() if structured else None,
                readable=lambda answer, structured=structured: form.readable(answer, structured),
                check=None if check is None else
                lambda answer, structured=structured: _checked(form, answer, structured, check))
        except FormatRejected:
            continue  # learned: asked again in the text format, not counted as an attempt
        except Refused as exc:
            reasons.append(f"{what}: {exc}")
            break
        attempt += 1
        try:
            return form.parse(answer.text, answer.structured), reasons
        except ScribeflowError as exc:
            reasons.append(f"{what}, attempt {attempt}: {exc}")
            log.warning("%s: unreadable answer (attempt %d of %d): %s", what, attempt,
                        attempts, exc)
    return None, reasons


def _checked(form: AnswerFormat[T], text: str, structured: bool,
             check: Callable[[T], str | None]) -> str | None:
    """``check``'s cause for the answer's value; None for an answer that cannot be read
    (the reader asks again for those)."""
    try:
        value = form.parse(text, structured)
    except ScribeflowError:
        return None
    return check(value)


def run_llm_work(settings: LLMSettings, cache: LLMCache | None,
                 work: Callable[[LLMClient], Awaitable[Outcome]]) -> Outcome:
    async def main() -> Outcome:
        started = time.perf_counter()
        llm = LLMClient(settings, cache=cache)
        try:
            outcome = await work(llm)
        finally:
            await llm.aclose()
        outcome.requests, outcome.reused = llm.usage.requests, llm.usage.cached
        outcome.prompt_tokens = llm.usage.prompt_tokens
        outcome.completion_tokens = llm.usage.completion_tokens
        outcome.seconds = round(time.perf_counter() - started, 3)
        return outcome

    return asyncio.run(main())


def build_chapters(groups: Sequence[tuple[str, float, float]], segments: Sequence[Segment],
                   settings: LLMSettings, cache: LLMCache | None = None, attempts: int = 3,
                   prompts_dir: Path | None = None) -> Outcome:
    """Chapters proposed over each ``(text, start, end)`` group, located in ``segments``."""
    prompt = load_prompt("chapters", prompts_dir)

    async def work(llm: LLMClient) -> Outcome:
        answers = await asyncio.gather(*(
            ask_for(llm, prompt, CHAPTERS, attempts, f"chapters of group {g}", text=text)
            for g, (text, _, _) in enumerate(groups)))
        found, dropped = [], []
        for (pairs, reasons), (_, start, end) in zip(answers, groups, strict=True):
            dropped.extend(reasons)
            for title, sentence in pairs or []:
                where = locate(sentence, segments, start, end)
                if where is None:
                    dropped.append(f"chapter {title!r}: its starting sentence is not in the "
                                   "transcript")
                    continue
                found.append(Chapter(title=title, start=where[0], sentence=sentence,
                                     match=where[1]))
        return Outcome(value=merge(found), dropped=dropped)

    return run_llm_work(settings, cache, work)


def build_quiz(chunks: Sequence[dict], per_chunk: int, settings: LLMSettings, seed: str,
               cache: LLMCache | None = None, attempts: int = 3,
               prompts_dir: Path | None = None) -> Outcome:
    """``per_chunk`` questions per document chunk, one LLM call each, then renumbered and
    balanced. The prompt asks for the correct answer at varied positions."""
    prompt = load_prompt("quiz_question", prompts_dir)

    async def one(llm: LLMClient, chunk: dict, n: int) -> tuple[QuizQuestion | None, list[str]]:
        letter = LETTERS[(chunk["index"] * per_chunk + n) % len(LETTERS)]
        question, reasons = await ask_for(
            llm, prompt, QUIZ_QUESTION, attempts,
            f"question {n + 1} of chunk {chunk['index']}", text=chunk["text"], number=n + 1,
            total=per_chunk, correct_letter=letter)
        if question is not None:
            question = QuizQuestion(question=question.question, options=question.options,
                                    answer=question.answer, explanation=question.explanation,
                                    chunk_index=chunk["index"])
        return question, reasons

    async def work(llm: LLMClient) -> Outcome:
        results = await asyncio.gather(*(one(llm, c, n) for c in chunks if c["text"].strip()
                                         for n in range(per_chunk)))
        questions = [q for q, _ in results if q is not None]
        dropped = [r for _, reasons in results for r in reasons]
        return Outcome(value=finalise(questions, seed), dropped=dropped)

    return run_llm_work(settings, cache, work)


def rate_quality(transcript: str, document: str, settings: LLMSettings,
                  cache: LLMCache | None = None, n_chars: int = 2000, attempts: int = 3,
                  prompts_dir: Path | None = None) -> Outcome:
    """0-100: how well the document's first ``n_chars`` capture the transcript's."""
    prompt = load_prompt("quality_score", prompts_dir)

    async def work(llm: LLMClient) -> Outcome:
        score, reasons = await ask_for(llm, prompt, QUALITY_SCORE, attempts, "quality score",
                                    transcript=transcript[:n_chars], document=document[:n_chars])
        return Outcome(value=score, dropped=reasons)

    return run_llm_work(settings, cache, work)



def build_summary(transcript: str, segments: Sequence[Segment], settings: LLMSettings,
                  cache: LLMCache | None = None, end: float = float("inf"), attempts: int = 3,
                  prompts_dir: Path | None = None) -> Outcome:
    """An abstract and its key moments (``(abstract, [KeyMoment])``) from ``transcript``
    (whose speech ends at ``end``), located in ``segments``; ``value`` is None, with the
    reasons in ``dropped``, when no answer was a usable summary of it."""
    prompt = load_prompt("summary", prompts_dir)

    async def work(llm: LLMClient) -> Outcome:
        try:
            proposal, reasons = await ask_for(
                llm, prompt, SUMMARY, attempts, "the answer",
                check=lambda p: unrelated(p, transcript, segments, end),
                text=transcript, low=KEY_POINTS[0], high=KEY_POINTS[1])
        except Unusable as exc:
            return Outcome(value=None, dropped=[str(exc)])
        if not isinstance(proposal, Proposal):
            return Outcome(value=None, dropped=reasons)
        moments, dropped = key_moments(proposal, segments, end)
        return Outcome(value=(proposal.abstract, moments), dropped=reasons + dropped)

    return run_llm_work(settings, cache, work)
