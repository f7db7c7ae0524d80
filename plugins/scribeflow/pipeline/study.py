"""The study stages: chapters, the quiz and the quality score, each written to its file."""

from __future__ import annotations

import logging
from pathlib import Path

from scribeflow.core.cache import llm_cache
from scribeflow.core.config import PipelineSettings
from scribeflow.core.endpoints import LLMSettings
from scribeflow.core.files import (
    VideoPaths,
    read_json,
    write_json_atomic,
    write_text_atomic,
)
from scribeflow.pipeline.results import ChaptersWritten, LLMUsage, QualityScored, QuizWritten
from scribeflow.pipeline.speakers import read_transcript

log = logging.getLogger(__name__)


def _study_inputs(video_dir: str) -> tuple[VideoPaths, dict, list[dict]]:
    video = VideoPaths(Path(video_dir))
    return video, read_json(video.metadata), read_json(video.document_chunks)


def write_chapters(video_dir: str, llm: LLMSettings, settings: PipelineSettings
                   ) -> ChaptersWritten:
    """``chapters.json`` and ``chapters.txt`` (``00:00 Title`` lines); ``render_outputs`` puts
    their headings in ``document.md``. Chapters are proposed over groups of the raw transcript chunks, whose
    sentences the model quotes back. Without an LLM or speech there are none, and it says so."""
    from scribeflow.core.links import clock
    from scribeflow.writing.chapters import youtube_list
    from scribeflow.writing.study import build_chapters

    video, meta, chunks = _study_inputs(video_dir)
    if not llm.configured or not chunks:
        why = "no LLM configured" if not llm.configured else "no speech"
        log.info("chapters skipped: %s", why)
        write_json_atomic(video.chapters, {"chapters": [], "skipped": why})
        return ChaptersWritten(chapters=0)
    segments = read_transcript(video).segments
    raw = read_json(video.chunks)  # the transcript's own words: their sentences match back best
    groups = []
    for start in range(0, len(raw), settings.chapter_chunks):
        part = raw[start:start + settings.chapter_chunks]
        groups.append((" ".join(c["text"] for c in part), part[0]["start"], part[-1]["end"]))
    outcome = build_chapters(groups, segments, llm, llm_cache(settings),
                             prompts_dir=settings.prompts)
    chapters = outcome.value
    write_json_atomic(video.chapters, {"chapters": [c.to_dict() | {"clock": clock(c.start)}
                                                    for c in chapters],
                                       "dropped": outcome.dropped})
    write_text_atomic(video.chapters_txt, youtube_list(chapters))
    for reason in outcome.dropped:
        log.warning("chapters: %s", reason)
    log.info("%d chapters (%d LLM requests, %d answers reused)", len(chapters), outcome.requests,
             outcome.reused)
    return ChaptersWritten(chapters=len(chapters), usage=LLMUsage.of(outcome),
                           dropped=tuple(outcome.dropped))


def write_quiz(video_dir: str, llm: LLMSettings, settings: PipelineSettings) -> QuizWritten:
    """``quiz.json``, ``quiz.md`` (no answers) and the answer key, when the run asks for a
    quiz. One LLM call per question; unreadable questions are dropped with their reason."""
    from scribeflow.writing.quiz import answer_key_markdown, student_markdown
    from scribeflow.writing.study import build_quiz

    video, meta, chunks = _study_inputs(video_dir)
    if not settings.quiz:
        return QuizWritten(quiz="off")
    if not llm.configured:
        log.warning("quiz skipped: no LLM configured")
        return QuizWritten(quiz="no LLM")
    outcome = build_quiz(chunks, settings.quiz_per_chunk, llm, seed=meta["video_id"],
                         cache=llm_cache(settings), prompts_dir=settings.prompts)
    questions = outcome.value
    write_json_atomic(video.quiz, {"title": meta["title"], "video_id": meta["video_id"],
                                   "questions": [q.to_dict() for q in questions],
                                   "dropped": outcome.dropped})
    write_text_atomic(video.quiz_md, student_markdown(meta["title"], questions))
    write_text_atomic(video.quiz_key, answer_key_markdown(meta["title"], questions))
    for reason in outcome.dropped:
        log.warning("quiz: dropped %s", reason)
    log.info("quiz: %d questions, %d attempts dropped (%d LLM requests, %d answers reused)",
             len(questions), len(outcome.dropped), outcome.requests, outcome.reused)
    return QuizWritten(quiz="on", questions=len(questions), usage=LLMUsage.of(outcome),
                       dropped=tuple(outcome.dropped))


def score_document_quality(video_dir: str, llm: LLMSettings, settings: PipelineSettings
                  ) -> QualityScored:
    """``quality.json``: the LLM's 0-100 rating of the document's start against the raw
    transcript's start, or why there is none."""
    from scribeflow.writing.study import rate_quality as rate

    video, _, chunks = _study_inputs(video_dir)
    transcript = read_transcript(video).text
    if not llm.configured or not chunks:
        why = "no LLM configured" if not llm.configured else "no speech"
        write_json_atomic(video.quality, {"score": None, "why": why})
        return QualityScored(quality=None)
    document = "\n\n".join(c["text"] for c in chunks)
    outcome = rate(transcript, document, llm, llm_cache(settings),
                   n_chars=settings.quality_chars, prompts_dir=settings.prompts)
    write_json_atomic(video.quality, {"score": outcome.value, "chars": settings.quality_chars,
                                      "dropped": outcome.dropped})
    log.info("quality score: %s", outcome.value)
    return QualityScored(quality=outcome.value, usage=LLMUsage.of(outcome),
                         dropped=tuple(outcome.dropped))


