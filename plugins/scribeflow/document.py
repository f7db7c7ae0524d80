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
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from scribeflow.cache import LLMCache
from scribeflow.config import LLMSettings
from scribeflow.llm import LLMClient, Refused, Usage
from scribeflow.preamble import filter_preamble
from scribeflow.prompts import Prompt, load_prompt
from scribeflow.records import Chunk

log = logging.getLogger(__name__)

STAGES = ("polish_sentences", "format_markdown", "cleanup_markdown")
#: A stage answer shorter than this share of its input lost content: keep the input.
MIN_KEPT_RATIO = 0.3


@dataclass
class ChunkResult:
    index: int
    text: str
    raw_chars: int
    removed_chars: int = 0
    stages: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class GroupResult:
    chunks: list[ChunkResult]
    usage: Usage
    llm_used: bool

    @property
    def removed_pct(self) -> float:
        total = sum(c.raw_chars for c in self.chunks)
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
) -> GroupResult:
    """Run the three stages over ``chunks`` concurrently; ``previous[i]`` is chunk i's context.

    With no LLM configured, each chunk keeps its raw text and the caller logs one line.
    With a ``cache``, answers already given for the same prompt, input and model are reused.
    """
    if not settings.configured:
        return GroupResult(
            chunks=[ChunkResult(index=c.index, text=c.text, raw_chars=len(c.text)) for c in chunks],
            usage=Usage(), llm_used=False,
        )
    prompts = {name: load_prompt(name, prompts_dir) for name in STAGES}
    return asyncio.run(_process_group(chunks, previous, settings, language, prompts, cache))


async def _process_group(chunks, previous, settings, language, prompts, cache) -> GroupResult:
    llm = LLMClient(settings, cache=cache)
    try:
        results = await asyncio.gather(
            *(_process_chunk(llm, c, previous.get(c.index, ""), language, prompts) for c in chunks)
        )
    finally:
        await llm.aclose()
    return GroupResult(chunks=list(results), usage=llm.usage, llm_used=True)


async def _process_chunk(
    llm: LLMClient, chunk: Chunk, previous_text: str, language: str, prompts: dict[str, Prompt]
) -> ChunkResult:
    result = ChunkResult(index=chunk.index, text=chunk.text, raw_chars=len(chunk.text))
    text = chunk.text
    for name in STAGES:
        prompt = prompts[name].render(
            text=text, previous_text=previous_text or "(none: this is the start)",
            language=language or "auto",
        )
        try:
            answer = await llm.complete(prompt, cache_as=(name, prompts[name].version))
        except Refused as exc:
            result.warnings.append(f"chunk {chunk.index} {name}: {exc}; kept its input text")
            log.warning(result.warnings[-1])
            continue
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
        if len(filtered.text) < MIN_KEPT_RATIO * len(text):
            result.warnings.append(
                f"chunk {chunk.index} {name}: answer kept {len(filtered.text)} of {len(text)} "
                "characters; kept its input text")
            log.warning(result.warnings[-1])
            continue
        result.stages.append({"stage": name, "version": prompts[name].version,
                              "model": answer.model, "removed": list(filtered.removed)})
        text = filtered.text
    result.text = text
    return result


def assemble_document(title: str, chunk_texts: Sequence[tuple[int, str]]) -> str:
    """``document.md``: the title, then each chunk's text in index order."""
    body = "\n\n".join(text.strip() for _, text in sorted(chunk_texts) if text.strip())
    return f"# {title.strip() or 'Untitled'}\n\n{body}\n" if body else f"# {title.strip()}\n"
