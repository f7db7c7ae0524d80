"""A configuration run over the reference set: each item through the pipeline's stages, on
a work folder of its own, into one result row."""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scribeflow.core.config import DeploymentSettings
from scribeflow.core.errors import ScribeflowError
from scribeflow.evaluation.metrics import content_kept, error_rates
from scribeflow.evaluation.references import Candidate, ReferenceItem
from scribeflow.evaluation.results import _complete

if TYPE_CHECKING:
    from scribeflow.core.endpoints import LLMSettings, TranscriptionSettings

log = logging.getLogger(__name__)


# --- the reference set and the configurations ------------------------------------------


# --- running a configuration -------------------------------------------------------------

def evaluation_root(data_dir: Path) -> Path:
    """Where evaluations keep their work and results: ``$SCRIBEFLOW_EVAL_DIR``, by default
    ``evaluation/`` in the data folder."""
    return Path(DeploymentSettings.from_env().eval_dir or Path(data_dir) / "evaluation").resolve()


def prompts_folder(candidate: Candidate, work: Path) -> Path:
    """The default templates with the candidate's over them, in ``work/prompts``."""
    from scribeflow.core.config import default_prompts_dir
    from scribeflow.core.files import write_text_atomic
    from scribeflow.writing.prompts import load_prompt

    if not candidate.prompts:
        return default_prompts_dir()
    folder = work / "prompts"
    for source in (default_prompts_dir(), Path(candidate.prompts)):
        for template in sorted(source.glob("*.md")):
            write_text_atomic(folder / template.name, template.read_text(encoding="utf-8"))
    for template in Path(candidate.prompts).glob("*.md"):
        load_prompt(template.stem, folder)  # a template without a version fails here
    return folder


def evaluate_candidate(candidate: Candidate, items: list[ReferenceItem], root: Path,
                       llm: LLMSettings, endpoint: TranscriptionSettings | None,
                       run: dict[str, str]) -> list[dict[str, Any]]:
    """One result row per item: the candidate's pipeline steps run over it (reusing its
    transcripts and LLM answers from earlier evaluations), then measured against the
    reference. An item that fails gets its one-line cause in ``error``."""
    from scribeflow.core.errors import one_line

    work = root / "configs" / candidate.folder
    prompts = prompts_folder(candidate, work)
    if candidate.llm_model and llm.configured:
        llm = dataclasses.replace(llm, model=candidate.llm_model)
    rows = []
    for item in items:
        row: dict[str, Any] = {**run, "config": candidate.name, "config_key": candidate.key,
                               "item": item.id, "language": item.language}
        try:
            row |= _evaluate_item(candidate, item, work, prompts, llm, endpoint)
            row["error"] = None
        except (ScribeflowError, OSError) as exc:
            row["error"] = one_line(exc)
            log.error("%s on %s: %s", candidate.name, item.id, row["error"])
        rows.append(_complete(row))
    return rows


def _evaluate_item(candidate: Candidate, item: ReferenceItem, work: Path, prompts: Path,
                   llm: LLMSettings, endpoint: TranscriptionSettings | None) -> dict[str, Any]:
    from scribeflow.core.config import PipelineSettings
    from scribeflow.core.files import VideoPaths, read_json, write_json_atomic
    from scribeflow.pipeline.audio import download_video
    from scribeflow.pipeline.chunks import split_transcript
    from scribeflow.pipeline.document import (
        assemble_video_document,
        document_markdown,
        write_document_group,
    )
    from scribeflow.pipeline.outputs import estimated_cost
    from scribeflow.pipeline.results import LLMUsage
    from scribeflow.pipeline.speakers import find_speakers, read_transcript
    from scribeflow.pipeline.study import score_document_quality
    from scribeflow.pipeline.transcription import transcribe_video
    from scribeflow.writing.prompts import load_prompt

    settings = PipelineSettings.from_env(
        {"language": item.language} | candidate.settings
        | {"data_dir": str(work), "prompts": str(prompts)})
    got = download_video(item.media, settings)
    video = VideoPaths(Path(got.video_dir))
    heard = transcribe_video(got.video_dir, settings, endpoint)
    found = find_speakers(got.video_dir, settings)
    started = time.perf_counter()
    parts = [write_document_group(g, llm, settings)
             for g in split_transcript(got.video_dir, settings)]
    assemble_video_document(got.video_dir, parts)
    quality = score_document_quality(got.video_dir, llm, settings)
    llm_s = time.perf_counter() - started
    transcript = read_transcript(video)
    document = document_markdown(video) if video.document_chunks.exists() else ""
    usage = sum((p.usage for p in parts), quality.usage)
    spent = {"requests": usage.requests, "prompt_tokens": usage.prompt_tokens,
             "completion_tokens": usage.completion_tokens}
    cached = usage.reused
    record = video.root / "evaluation.json"
    if spent["requests"]:
        write_json_atomic(record, spent)
    elif cached and record.exists():  # every answer reused: what they cost when asked
        spent = read_json(record)
    minutes = transcript.duration / 60 if transcript.duration else 0.0
    return {
        "audio_s": round(transcript.duration, 2),
        "speakers": found.count,
        **error_rates(item.transcript, transcript.text),
        "quality": quality.quality,
        "content_kept": content_kept(item.document or item.transcript, document, item.language)
        if document.strip() else 0.0,
        "transcribe_s_per_min": round(transcript.processing_s / minutes, 3) if minutes else None,
        "llm_s_per_min": round(llm_s / minutes, 3) if minutes else None,
        "llm_requests": spent["requests"], "llm_cached": cached,
        "prompt_tokens": spent["prompt_tokens"], "completion_tokens": spent["completion_tokens"],
        "cost_usd": estimated_cost(LLMUsage(prompt_tokens=spent["prompt_tokens"],
                                            completion_tokens=spent["completion_tokens"])),
        "transcript_reused": heard.reused, "transcriber": transcript.backend,
        "whisper_model": transcript.model,
        "llm_model": llm.model if llm.configured else None,
        "prompt_versions": json.dumps({name: load_prompt(name, prompts).version
                                       for name in PROMPTS_USED}, sort_keys=True),
    }


#: The templates an evaluation runs: the document stages and the quality score.
PROMPTS_USED = ("polish_sentences", "format_markdown", "cleanup_markdown", "quality_score")


# --- results, baseline, gate and report ----------------------------------------------------
