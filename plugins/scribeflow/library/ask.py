"""Answers from the library, with citations: the hybrid search finds passages, the LLM
answers from them alone, and every ``[n]`` of the answer is a video, a second and a link.

When the search finds nothing relevant (every hit under the similarity floor), the model is
not asked: the library does not hold the answer, and the reply says so plainly. The model
may say so too. Passages are sent best first until ``ask_tokens`` (word pieces of the
search model, which the passages are counted in) would be passed.
"""

from __future__ import annotations

import logging
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from scribeflow.core.config import PipelineSettings
from scribeflow.core.endpoints import LLMSettings
from scribeflow.core.errors import BadInputError, ConfigError, ScribeflowError
from scribeflow.core.links import clock
from scribeflow.core.records import SearchFilters, SearchHit

log = logging.getLogger(__name__)
#: Passages the search is asked for (fewer are sent when the token budget is spent).
CANDIDATES = 8
MAX_QUESTION_CHARS = 500
NOT_HELD = "The library does not hold an answer to this question."


class AnswerFailed(ScribeflowError):
    """No usable answer came from the LLM (unreachable, or every answer unusable)."""


@dataclass(frozen=True)
class Citation:
    number: int
    video_id: str
    title: str
    start: float
    url: str
    #: The passage it cites, as stored.
    text: str

    @property
    def clock(self) -> str:
        return clock(self.start)


@dataclass(frozen=True)
class Answer:
    question: str
    #: The library holds an answer (``text`` cites it), or not (``text`` says so).
    found: bool
    text: str
    citations: tuple[Citation, ...] = ()
    #: Passages sent to the model and their word pieces (0: the model was not asked).
    passages: int = 0
    tokens: int = 0
    llm_requests: int = 0
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"citations": [asdict(c) | {"clock": c.clock}
                                             for c in self.citations]}


def check_question(question: str) -> str:
    question = " ".join((question or "").split())
    if not question:
        raise BadInputError("empty question: ask what you want to know, in a few words")
    if len(question) > MAX_QUESTION_CHARS:
        raise BadInputError(f"question too long: {len(question)} characters, at most "
                            f"{MAX_QUESTION_CHARS}")
    return question


def budgeted(hits: list[SearchHit], counts: list[int], budget: int
             ) -> tuple[list[SearchHit], int]:
    """The hits, best first, whose word pieces fit ``budget`` (the first always)."""
    kept, used = [], 0
    for hit, count in zip(hits, counts, strict=True):
        if kept and used + count > budget:
            break
        kept.append(hit)
        used += count
    return kept, used


def ask(question: str, settings: PipelineSettings, llm: LLMSettings,
        filters: SearchFilters | None = None, *, embedder: Any | None = None,
        dsn: str | None = None) -> Answer:
    """The answer to ``question`` from the stored passages (within ``filters``), with its
    citations; raises :class:`BadInputError` for a bad question or filter, and
    :class:`AnswerFailed` when the LLM gave no usable answer."""
    from scribeflow.index.embedding import count_tokens_many, load_embedder
    from scribeflow.index.search import search

    question = check_question(question)
    if not llm.configured:
        raise ConfigError("no LLM configured (connection openai_default or OPENAI_* env): "
                          "answers are written by one; search finds the passages without it")
    model = embedder or load_embedder(settings.embed_model)
    hits = [h for h in search(question, settings, CANDIDATES, filters=filters, embedder=model,
                              dsn=dsn) if not h.weak]
    if not hits:
        log.info("ask: nothing relevant stored for %r", question)
        return Answer(question=question, found=False, text=NOT_HELD,
                      notes=["no stored passage is close to the question"])
    passages, tokens = budgeted(hits, count_tokens_many(model, [h.text for h in hits]),
                                settings.ask_tokens)
    return _answered(question, passages, tokens, settings, llm)


def _answered(question: str, passages: list[SearchHit], tokens: int,
              settings: PipelineSettings, llm: LLMSettings) -> Answer:
    from scribeflow.writing.answers import ANSWER
    from scribeflow.writing.cited import CitedAnswer, uncited
    from scribeflow.writing.llm import LLMUnavailable, Unusable
    from scribeflow.writing.prompts import load_prompt
    from scribeflow.writing.study import Outcome, ask_for, run_llm_work

    prompt = load_prompt("answer", settings.prompts)
    texts = [p.text for p in passages]
    shown = [{"title": p.title, "clock": clock(p.start), "text": p.text} for p in passages]

    async def work(client: Any) -> Outcome:
        try:
            value, reasons = await ask_for(client, prompt, ANSWER, 3, "answer",
                                           check=lambda a: uncited(a, texts),
                                           question=question, passages=shown)
        except Unusable as exc:
            return Outcome(value=None, dropped=[str(exc)])
        return Outcome(value=value, dropped=reasons)

    try:
        outcome = run_llm_work(llm, None, work)  # answers are not cached: the library grows
    except LLMUnavailable as exc:
        raise AnswerFailed(f"the LLM could not be reached: {exc}") from None
    reply: CitedAnswer | None = outcome.value
    if reply is None:
        raise AnswerFailed(f"no usable answer: {outcome.dropped[-1] if outcome.dropped else '?'}")
    if not reply.found:
        return Answer(question=question, found=False, text=NOT_HELD, passages=len(passages),
                      tokens=tokens, llm_requests=outcome.requests,
                      notes=["the passages found do not hold the answer"])
    order = reply.cited()  # renumbered 1, 2, … in the order the answer cites them
    number = {n: i for i, n in enumerate(order, start=1)}
    text = re.sub(r"\[(\d{1,3})\]", lambda m: f"[{number[int(m[1])]}]", reply.text)
    citations = tuple(Citation(number=number[n], video_id=passages[n - 1].video_id,
                               title=passages[n - 1].title, start=passages[n - 1].start,
                               url=passages[n - 1].url, text=passages[n - 1].text)
                      for n in order)
    return Answer(question=question, found=True, text=text, citations=citations,
                  passages=len(passages), tokens=tokens, llm_requests=outcome.requests,
                  notes=outcome.dropped)
