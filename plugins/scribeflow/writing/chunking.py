"""Split a transcript into chunks at segment boundaries, and chunks into groups of work."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from scribeflow.core.records import Chunk, Segment

#: A turn's speaker label at a paragraph's start, as the chunks write it (``Speaker 2:``) and
#: as the LLM stages may keep it (``**Speaker 1 (the host):**``).
SPEAKER_LABEL = re.compile(r"(?m)^[ \t]*(?:\*\*)?Speaker \d+(?: \([^)\n]*\))?(?::\*\*|\*\*:|:)[ \t]*")


def without_speaker_labels(text: str) -> str:
    """``text`` without its speaker labels: the words that were said, for the index (a label
    in every turn of a dialogue would make it look like every other dialogue)."""
    return SPEAKER_LABEL.sub("", text)


def spoken_text(segments: Sequence[Segment]) -> str:
    """The segments' text, one line; with speakers, each turn a paragraph that starts with
    its speaker (``Speaker 2: …``)."""
    out, speaker = "", None
    for seg in segments:
        text = seg.text.strip()
        if not text:
            continue
        if seg.speaker and seg.speaker != speaker:
            out += ("\n\n" if out else "") + f"{seg.speaker}: {text}"
        else:
            out += (" " if out else "") + text
        speaker = seg.speaker
    return out


def split_into_chunks(segments: Sequence[Segment], chunk_words: int) -> list[Chunk]:
    """Consecutive segments packed into chunks of about ``chunk_words`` words.

    A chunk never splits a segment: it closes before the segment that would take it past
    ``chunk_words``, so a segment longer than that becomes a chunk of its own. Empty
    segments are dropped. Indices run from 0 in time order.
    """
    if chunk_words < 1:
        raise ValueError("chunk_words must be at least 1")
    chunks: list[Chunk] = []
    current: list[Segment] = []
    count = 0

    def flush() -> None:
        nonlocal current, count
        if current:
            chunks.append(Chunk(
                index=len(chunks), start=current[0].start, end=current[-1].end,
                text=spoken_text(current),
                segment_ids=tuple(s.id for s in current),
            ))
        current, count = [], 0

    for seg in segments:
        words = len(seg.text.split())
        if not words:
            continue
        if current and count + words > chunk_words:
            flush()
        current.append(seg)
        count += words
    flush()
    return chunks


def group_chunks(n_chunks: int, max_groups: int, min_per_group: int) -> list[list[int]]:
    """Contiguous, balanced groups of chunk indices: the work items of the mapped LLM task.

    Each mapped task instance costs a task start-up, so a group holds at least
    ``min_per_group`` chunks (which then run concurrently inside the task), and there are at
    most ``max_groups`` groups (the executor's useful parallelism). Always at least one group,
    possibly empty, so the mapped task runs (and is visible) even for a silent video.
    """
    if n_chunks <= 0:
        return [[]]
    n_groups = max(1, min(max_groups, math.ceil(n_chunks / max(1, min_per_group))))
    base, extra = divmod(n_chunks, n_groups)
    groups, start = [], 0
    for g in range(n_groups):
        size = base + (1 if g < extra else 0)
        groups.append(list(range(start, start + size)))
        start += size
    return groups
