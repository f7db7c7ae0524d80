"""The ``summarize`` stage: ``summary.json``, a video's abstract and key moments."""

from __future__ import annotations

import logging
from pathlib import Path

from scribeflow.core.cache import llm_cache
from scribeflow.core.config import PipelineSettings
from scribeflow.core.endpoints import LLMSettings
from scribeflow.core.files import VideoPaths, read_json, write_json_atomic
from scribeflow.pipeline.results import LLMUsage, Summarized
from scribeflow.pipeline.speakers import read_transcript
from scribeflow.writing.llm import LLMUnavailable
from scribeflow.writing.summarize import VideoSummary, sentences

log = logging.getLogger(__name__)


def summary_input(chunks: list[dict], max_chars: int) -> tuple[str, float | None]:
    """The transcript a summary is written from: the raw chunks' text (the speaker's own
    words, which key points quote back best) up to ``max_chars``, and the second it ends."""
    parts, used, end = [], 0, None
    for chunk in chunks:
        if parts and used + len(chunk["text"]) > max_chars:
            break
        parts.append(chunk["text"][:max_chars])
        used += len(parts[-1]) + 1
        end = chunk["end"]
    return " ".join(parts), end


def summarize_video(video_dir: str, llm: LLMSettings, settings: PipelineSettings
                    ) -> Summarized:
    """``summary.json``: an abstract of the video and its key moments, each at the second
    whose words it summarises. Skipped (and said so in the file) when the run asks for no
    summary, no LLM is configured, or nothing was said. When no answer is a usable summary,
    or the LLM cannot be reached after the client's retries, ``summary.json`` says why
    (``failed``) and the result carries it: the run finishes degraded, with the video stored,
    and a later run of the video asks again (a failure is never kept as an answer)."""
    from scribeflow.writing.study import build_summary

    video = VideoPaths(Path(video_dir))
    meta, chunks = read_json(video.metadata), read_json(video.chunks)
    duration = meta.get("duration")
    skipped = ("the run asked for none" if not settings.summary
               else "no LLM configured" if not llm.configured
               else "no speech" if not chunks else None)
    if skipped:
        log.info("summary skipped: %s", skipped)
        write_json_atomic(video.summary, VideoSummary(skipped=skipped,
                                                      duration_s=duration).to_dict())
        return Summarized(skipped=skipped)
    text, end = summary_input(chunks, settings.summary_chars)
    segments = read_transcript(video).segments
    try:
        outcome = build_summary(text, segments, llm, llm_cache(settings), end=(end or 0) + 1,
                                prompts_dir=settings.prompts)
    except LLMUnavailable as exc:
        return _failed(video, f"the LLM could not be reached: {exc}", duration)
    if outcome.value is None:
        cause = outcome.dropped[-1] if outcome.dropped else "no usable answer"
        return _failed(video, cause, duration, LLMUsage.of(outcome), tuple(outcome.dropped))
    abstract, moments = outcome.value
    covered = end if end is not None and chunks[-1]["end"] > end + 1 else duration
    summary = VideoSummary(abstract=abstract, key_moments=tuple(moments), covered_s=covered,
                           duration_s=duration, dropped=tuple(outcome.dropped))
    write_json_atomic(video.summary, summary.to_dict())
    for reason in outcome.dropped:
        log.warning("summary: %s", reason)
    log.info("summary: %d sentences of abstract, %d key moments (%d LLM requests, %d answers "
             "reused)", len(sentences(abstract)), len(moments), outcome.requests, outcome.reused)
    return Summarized(key_moments=len(moments), usage=LLMUsage.of(outcome),
                      dropped=tuple(outcome.dropped))


def _failed(video: VideoPaths, cause: str, duration: float | None,
            usage: LLMUsage | None = None, dropped: tuple[str, ...] = ()) -> Summarized:
    log.error("summary failed: %s", cause)
    write_json_atomic(video.summary, VideoSummary(failed=cause, duration_s=duration,
                                                  dropped=dropped).to_dict())
    return Summarized(failed=cause, usage=usage or LLMUsage(), dropped=dropped)
