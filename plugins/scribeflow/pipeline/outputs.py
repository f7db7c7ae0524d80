"""The ``render_outputs`` stage: ``document.md``, pages and PDFs, and ``processing.json``."""

from __future__ import annotations

import logging
from pathlib import Path

from scribeflow.core.config import PipelineSettings
from scribeflow.core.endpoints import LLMSettings
from scribeflow.core.files import (
    read_json,
    write_json_atomic,
    write_text_atomic,
)
from scribeflow.pipeline.document import document_markdown
from scribeflow.pipeline.results import (
    Assembled,
    ChaptersWritten,
    LLMUsage,
    QualityScored,
    QuizWritten,
    Rendered,
    Summarized,
)
from scribeflow.pipeline.study import _study_inputs

log = logging.getLogger(__name__)


def render_outputs(video_dir: str, settings: PipelineSettings, llm: LLMSettings,
                   document: Assembled | None = None, summary: Summarized | None = None,
                   chapters: ChaptersWritten | None = None,
                   quiz: QuizWritten | None = None, quality: QualityScored | None = None
                   ) -> Rendered:
    """``document.md`` (with its chapter headings), ``document.html``/``.pdf``,
    ``quiz.html``/``.pdf`` when there is a quiz, and ``processing.json``: the models, prompt
    versions and settings, and the LLM work, time and cost of the stages before (their
    results, when given). ``metadata.json`` stays as the download wrote it."""
    from scribeflow.writing import render
    from scribeflow.writing.prompts import load_prompt
    from scribeflow.writing.quiz import QuizQuestion

    video, meta, _ = _study_inputs(video_dir)
    score = read_json(video.quality).get("score") if video.quality.exists() else None
    markdown = document_markdown(video)
    write_text_atomic(video.document, markdown)  # its one writer
    page = render.document_page(meta["title"], markdown)
    rendered = _page_and_pdf(page, video.document_html, video.document_pdf)
    outputs = {"document": str(video.document), "document_html": str(video.document_html),
               "document_pdf": str(video.document_pdf)}
    if settings.quiz and video.quiz.exists():
        questions = [QuizQuestion.from_dict(q) for q in read_json(video.quiz)["questions"]]
        rendered += _page_and_pdf(render.quiz_page(meta["title"], questions, score),
                                  video.quiz_html, video.quiz_pdf,
                                  render.quiz_print_page(meta["title"], questions))
        outputs |= {"quiz_html": str(video.quiz_html), "quiz_pdf": str(video.quiz_pdf)}
    log.info("rendered %d PDF(s); %d unchanged", rendered,
             1 + bool(settings.quiz and video.quiz.exists()) - rendered)
    transcript = read_json(video.transcript)
    prompts = ("polish_sentences", "format_markdown", "cleanup_markdown", "summary",
               "chapters", "quiz_question", "quality_score")
    stages = {"document_stages": document, "summary": summary, "chapters": chapters,
              "quiz": quiz, "quality": quality}
    usage = sum((r.usage for r in stages.values() if r is not None), LLMUsage())
    tokens = {"prompt": usage.prompt_tokens, "completion": usage.completion_tokens}
    write_json_atomic(video.processing, {
        "whisper_model": transcript.get("model"), "device": transcript.get("device"),
        "compute_type": transcript.get("compute_type"),
        "transcribe_s": transcript.get("processing_s"),
        "real_time_factor": transcript.get("real_time_factor"),
        "llm_model": llm.model, "llm_fallback_model": llm.fallback_model,
        "prompt_versions": {p: load_prompt(p, settings.prompts).version for p in prompts},
        "embed_model": settings.embed_model, "settings": settings.as_dict(),
        "quality": score, "llm_requests": usage.requests,
        "degraded": list(document.degraded) if document else [],
        "timings_s": {"transcribe": transcript.get("processing_s")} | {
            name: r.usage.seconds if r is not None else None for name, r in stages.items()},
        "tokens": tokens, "estimated_cost_usd": estimated_cost(usage),
    })
    return Rendered(video_dir=video_dir, quality=score, outputs=outputs)


def _page_and_pdf(page: str, html: Path, pdf: Path, printed: str | None = None) -> int:
    """Write ``page`` and its PDF (from ``printed``, a print layout of it, when given); 0 when
    both are there already and the page is unchanged: WeasyPrint, the slow part, is not run.
    The PDF is written first, so a crash between the two leaves a page that differs and the
    next run makes both again."""
    from scribeflow.writing import render

    if html.exists() and pdf.exists() and html.read_text(encoding="utf-8") == page:
        return 0
    render.write_pdf(printed or page, pdf)
    write_text_atomic(html, page)
    return 1


def estimated_cost(usage: LLMUsage) -> float | None:
    """USD from ``SCRIBEFLOW_PRICE_PROMPT_PER_MTOK`` / ``..._COMPLETION_PER_MTOK`` (prices
    per million tokens of the configured model); None when no price is configured."""
    from scribeflow.core.config import DeploymentSettings

    deployment = DeploymentSettings.from_env()
    prompt_price = deployment.price_prompt_per_mtok
    completion_price = deployment.price_completion_per_mtok
    if prompt_price is None or completion_price is None:
        return None
    return round((usage.prompt_tokens * prompt_price
                  + usage.completion_tokens * completion_price) / 1e6, 6)


