"""The ``split_into_chunks`` stage: ``chunks.json`` and the groups the LLM tasks map over."""

from __future__ import annotations

import logging
from pathlib import Path

from scribeflow.core.config import PipelineSettings
from scribeflow.core.files import (
    VideoPaths,
    write_json_atomic,
)
from scribeflow.core.records import Chunk
from scribeflow.pipeline.results import ChunkGroup
from scribeflow.pipeline.speakers import read_transcript
from scribeflow.writing.chunking import group_chunks, split_into_chunks

log = logging.getLogger(__name__)


def split_transcript(video_dir: str, settings: PipelineSettings) -> list[ChunkGroup]:
    """Write ``chunks.json`` and return the groups of chunk indices the LLM task maps over."""
    video = VideoPaths(Path(video_dir))
    transcript = read_transcript(video)
    chunks = split_into_chunks(transcript.segments, settings.chunk_words)
    write_json_atomic(video.chunks, [c.to_dict() for c in chunks])
    groups = group_chunks(len(chunks), settings.max_llm_groups, settings.min_chunks_per_group)
    log.info("%d chunks of about %d words in %d group(s)", len(chunks), settings.chunk_words,
             len(groups))
    return [ChunkGroup(video_dir=video_dir, group=g, chunks=tuple(indices),
                       language=transcript.language, label=group_label(indices, chunks))
            for g, indices in enumerate(groups)]


def group_label(indices: list[int], chunks: list[Chunk]) -> str:
    """What a group holds, as the UI's grid labels its mapped task: ``chunks 0–7, 00:00–04:10``."""
    from scribeflow.core.links import clock

    if not indices:  # a video without speech still maps one (empty) group
        return "no chunks"
    first, last = chunks[indices[0]], chunks[indices[-1]]
    span = f"chunk {first.index}" if len(indices) == 1 else f"chunks {first.index}–{last.index}"
    return f"{span}, {clock(first.start)}–{clock(last.end)}"


