"""The document stages: each group's LLM passes, their texts reassembled in order
(``document_chunks.json``), and the one maker of ``document.md``'s text."""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from pathlib import Path

from scribeflow.core.cache import llm_cache
from scribeflow.core.config import PipelineSettings
from scribeflow.core.endpoints import LLMSettings
from scribeflow.core.files import (
    VideoPaths,
    read_json,
    write_json_atomic,
)
from scribeflow.core.records import Chunk
from scribeflow.pipeline.results import Assembled, ChunkGroup, GroupWritten, LLMUsage

log = logging.getLogger(__name__)


def write_document_group(group: ChunkGroup, llm: LLMSettings,
                         settings: PipelineSettings) -> GroupWritten:
    """Run the LLM document stages over one group of chunks; write ``llm/group-NNN.json``.

    Answers are reused from the data folder's LLM cache when prompt, input and model match.
    """
    from scribeflow.writing.document import process_group

    video = VideoPaths(Path(group.video_dir))
    chunks = [Chunk.from_dict(c) for c in read_json(video.chunks)]
    selected = [chunks[i] for i in group.chunks]
    previous = {i: chunks[i - 1].text for i in group.chunks if i > 0}
    started = time.perf_counter()
    cache = llm_cache(settings)
    result = process_group(selected, previous, llm, group.language or "auto",
                           prompts_dir=settings.prompts, cache=cache,
                           allow_degraded=settings.allow_degraded,
                           label=f"write_document group {group.group}")
    elapsed = time.perf_counter() - started
    payload = result.to_dict() | {"group": group.group, "seconds": round(elapsed, 3)}
    write_json_atomic(video.llm_group(group.group), payload)
    if result.llm_used:
        log.info("group %d: %d chunks, %d LLM requests (%d retries, %d answers reused) in %.2f s; "
                 "preamble filter removed %.2f%% of the text", group.group, len(selected),
                 result.usage.requests, result.usage.retries, result.usage.cached, elapsed,
                 result.removed_pct)
    warnings = [w for c in result.chunks for w in c.warnings]
    usage = LLMUsage(requests=result.usage.requests, reused=result.usage.cached,
                     seconds=round(elapsed, 3), prompt_tokens=result.usage.prompt_tokens,
                     completion_tokens=result.usage.completion_tokens)
    return GroupWritten(group=group.group, path=str(video.llm_group(group.group)),
                        llm_used=result.llm_used, usage=usage, removed_pct=result.removed_pct,
                        warnings=tuple(warnings),
                        degraded=tuple(d for c in result.chunks for d in c.degraded))


def assemble_video_document(video_dir: str, groups: list[GroupWritten]) -> Assembled:
    """Reassemble the groups' chunk texts in order into ``document_chunks.json`` (what the
    study stages, the rows and ``document.md`` are made from)."""
    video = VideoPaths(Path(video_dir))
    chunks = [Chunk.from_dict(c) for c in read_json(video.chunks)]
    texts: dict[int, str] = {}
    removed_chars = answer_chars = 0
    for group in groups:
        for row in read_json(video.llm_group(group.group))["chunks"]:
            texts[row["index"]] = row["text"]
            removed_chars += row["removed_chars"]
            answer_chars += row.get("answer_chars", 0)
    missing = [c.index for c in chunks if c.index not in texts]
    if missing:
        raise RuntimeError(f"chunks {missing} have no LLM group output")
    write_json_atomic(video.document_chunks, [
        {"index": c.index, "start": c.start, "end": c.end, "text": texts[c.index]} for c in chunks
    ])
    usage = sum((g.usage for g in groups), LLMUsage())
    return Assembled(
        video_dir=video_dir, chunks=len(chunks),
        llm_used=any(g.llm_used for g in groups), usage=replace(usage, seconds=round(usage.seconds, 3)),
        removed_pct=round(100.0 * removed_chars / answer_chars, 2) if answer_chars else 0.0,
        warnings=tuple(w for g in groups for w in g.warnings),
        degraded=tuple(d for g in groups for d in g.degraded))


#: From a video's document (``videos/<id>/files/document.html`` under the app) to the app's
#: root, where a local file's player is.
DOCUMENT_ROOT = "../../../"


def document_markdown(video: VideoPaths) -> str:
    """``document.md``'s text, made one way wherever it is needed: the title, the video's
    facts, the summary and the chapter list (:mod:`scribeflow.writing.overview`), then each
    chunk's final text in order, with a ``##`` heading at the sentence where each chapter
    starts when the chapters stage found some (the chunks' own headings then move one level
    down)."""
    from scribeflow.core.links import moment_link
    from scribeflow.writing.chapters import Chapter, with_chapter_headings
    from scribeflow.writing.overview import Facts, compose
    from scribeflow.writing.summarize import read_summary

    meta = read_json(video.metadata)
    chunks = read_json(video.document_chunks)
    found = read_json(video.chapters) if video.chapters.exists() else {}
    chapters = [Chapter.from_dict(c) for c in found.get("chapters", [])]
    quality = read_json(video.quality).get("score") if video.quality.exists() else None
    language = (read_json(video.transcript).get("language")
                if video.transcript.exists() else None)

    def link(start: float) -> str:
        return moment_link(meta.get("webpage_url") or "", meta["video_id"], start,
                           DOCUMENT_ROOT)

    body = with_chapter_headings(chunks, chapters)
    return compose(meta["title"], Facts.of(meta, link, language, quality),
                   read_summary(video.summary), chapters, body, link)
