"""The per-chunk LLM document stages and the reassembly of ``document.md``.

Stage 1 (``polish_sentences``) turns raw utterances into complete sentences, with the
previous chunk's raw text as context; stage 2 (``format_markdown``) formats them as
Markdown; stage 3 (``cleanup_markdown``) removes duplicates and fragments. Each answer
passes the preamble filter. Chunks of a group run concurrently; each chunk's stages run in
order. Context is the previous chunk's *raw* text, so no chunk waits for another.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from scribeflow.core.cache import LLMCache
from scribeflow.core.endpoints import LLMSettings
from scribeflow.core.errors import ScribeflowError
from scribeflow.core.records import Chunk
from scribeflow.writing.llm import LLMClient, LLMUnavailable, Unusable, Usage
from scribeflow.writing.preamble import filter_preamble
from scribeflow.writing.prompts import Prompt, load_prompt

log = logging.getLogger(__name__)

STAGES = ("polish_sentences", "format_markdown", "cleanup_markdown")
#: A rewrite is unusable when it is shorter than this share of its input (content lost) …
MIN_KEPT_RATIO = 0.3
#: … or longer than this multiple of it (something else was written) …
MAX_GROWTH_RATIO = 4.0
#: … or keeps less than this share of the input's content words (it answers something else).
MIN_WORDS_KEPT = 0.5
_WORD = re.compile(r"[^\W\d_]{4,}")
_STOP = frozenset("""this that with from have there their they them then than were what when
where which while will would could should about into your yours just like also been being
some such only over very more most other these those because""".split())


class LLMStageFailed(ScribeflowError):
    """A chunk's stage got no usable answer; names the chunk, its time range and the cause."""


def rewrite_words(text: str) -> set[str]:
    """The words of ``text`` a rewrite must mostly keep: lower-cased, English stop words out."""
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP}


def rewrite_check(source: str) -> Callable[[str], str | None]:
    """Why an answer is not a rewrite of ``source`` (too short, too long, or keeping too few
    of its content words), or None. Preambles count toward length only, not against it."""
    words = rewrite_words(source)

    def check(answer: str) -> str | None:
        kept_text = filter_preamble(answer).text
        if len(kept_text) < MIN_KEPT_RATIO * len(source):
            return (f"the answer kept {len(kept_text)} of {len(source)} characters "
                    "(content was dropped)")
        if len(kept_text) > MAX_GROWTH_RATIO * max(len(source), 50):
            return f"the answer is {len(kept_text) / len(source):.1f} times its input's length"
        if len(words) >= 4:
            share = len(words & rewrite_words(answer)) / len(words)
            if share < MIN_WORDS_KEPT:
                return (f"the answer keeps {share:.0%} of its input's content words (it is "
                        "not a rewrite of it)")
        return None

    return check


@dataclass
class ChunkResult:
    index: int
    text: str
    raw_chars: int
    #: Characters of the answers used, and of those the preamble filter removed.
    answer_chars: int = 0
    removed_chars: int = 0
    stages: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: Stages that kept their input because no usable answer came (``allow_degraded``).
    degraded: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class GroupResult:
    chunks: list[ChunkResult]
    usage: Usage
    llm_used: bool

    @property
    def removed_pct(self) -> float:
        """The share of the answers' characters the preamble filter removed (0 to 100)."""
        total = sum(c.answer_chars for c in self.chunks)
        return round(100.0 * sum(c.removed_chars for c in self.chunks) / total, 2) if total else 0.0

    def to_dict(self) -> dict:
        return {"llm_used": self.llm_used, "removed_pct": self.removed_pct,
                "usage": asdict(self.usage), "chunks": [asdict(c) for c in self.chunks]}


def process_group(
    chunks: Sequence[Chunk],
    previous: dict[int, str],
    settings: LLMSettings,
    language: str,
    prompts_dir: Path | None = None,
    cache: LLMCache | None = None,
    allow_degraded: bool = False,
    label: str = "write_document",
) -> GroupResult:
    """Run the three stages over ``chunks`` concurrently; ``previous[i]`` is chunk i's context.
    How many stages are done is logged as ``label`` every 10 s (:mod:`scribeflow.core.progress`).

    With no LLM configured, each chunk keeps its raw text and the caller logs one line.
    With a ``cache``, answers already given for the same prompt, input and model are reused.
    A stage with no usable answer raises :class:`LLMStageFailed` naming the chunk, or, with
    ``allow_degraded``, keeps its input and is listed in the chunk's ``degraded``.
    """
    if not settings.configured:
        return GroupResult(
            chunks=[ChunkResult(index=c.index, text=c.text, raw_chars=len(c.text)) for c in chunks],
            usage=Usage(), llm_used=False,
        )
    from scribeflow.core.progress import Progress

    prompts = {name: load_prompt(name, prompts_dir) for name in STAGES}
    with Progress(label, len(chunks) * len(STAGES), "chunk stages", log=log) as progress:
        return asyncio.run(_process_group(chunks, previous, settings, language, prompts, cache,
                                          allow_degraded, progress.add))


async def _process_group(chunks, previous, settings, language, prompts, cache,
                         allow_degraded, stage_done=lambda: None) -> GroupResult:
    llm = LLMClient(settings, cache=cache)
    try:
        results = await asyncio.gather(
            *(_process_chunk(llm, c, previous.get(c.index, ""), language, prompts,
                             allow_degraded, stage_done) for c in chunks)
        )
    finally:
        await llm.aclose()
    return GroupResult(chunks=list(results), usage=llm.usage, llm_used=True)


def _where(chunk: Chunk, stage: str) -> str:
    from scribeflow.core.links import timestamp

    return (f"chunk {chunk.index} ({timestamp(chunk.start)[:8]}-{timestamp(chunk.end)[:8]}) "
            f"{stage}")


async def _process_chunk(
    llm: LLMClient, chunk: Chunk, previous_text: str, language: str, prompts: dict[str, Prompt],
    allow_degraded: bool = False, stage_done: Callable[[], None] = lambda: None,
) -> ChunkResult:
    result = ChunkResult(index=chunk.index, text=chunk.text, raw_chars=len(chunk.text))
    text = chunk.text
    for name in STAGES:
        prompt = prompts[name].render(
            text=text, previous_text=previous_text or "(none: this is the start)",
            language=language or "auto",
        )
        try:
            answer = await llm.complete(prompt, cache_as=(name, prompts[name].version),
                                        check=rewrite_check(text))
        except Unusable as exc:
            if not allow_degraded:
                raise LLMStageFailed(f"{_where(chunk, name)}: {exc}") from None
            result.degraded.append(f"{_where(chunk, name)}: {exc}; kept its input text")
            result.warnings.append(result.degraded[-1])
            log.warning("degraded: %s", result.degraded[-1])
            stage_done()
            continue
        except LLMUnavailable as exc:
            raise LLMUnavailable(f"{_where(chunk, name)}: {exc}") from None
        filtered = filter_preamble(answer.text)
        if filtered.refused:
            result.warnings.append(
                f"chunk {chunk.index} {name}: preamble filter would remove "
                f"{filtered.removed_pct}% of the answer; kept it whole")
            log.warning(result.warnings[-1])
        elif filtered.changed:
            log.info("chunk %d %s: removed preamble %r (%.1f%% of the answer)", chunk.index, name,
                     " / ".join(filtered.removed)[:200], filtered.removed_pct)
            result.removed_chars += len(answer.text.strip()) - len(filtered.text)
        result.answer_chars += len(answer.text.strip())
        result.stages.append({"stage": name, "version": prompts[name].version,
                              "model": answer.model, "removed": list(filtered.removed)})
        text = filtered.text
        stage_done()
    result.text = text
    return result


def assemble_document(title: str, chunk_texts: Sequence[tuple[int, str]]) -> str:
    """``document.md``: the title, then each chunk's text in index order."""
    body = "\n\n".join(text.strip() for _, text in sorted(chunk_texts) if text.strip())
    return f"# {title.strip() or 'Untitled'}\n\n{body}\n" if body else f"# {title.strip()}\n"
