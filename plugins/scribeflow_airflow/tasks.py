"""Task callables of ``video_pipeline``: read the run's params, call a step, record the summary.

A step's :class:`BadInputError`, :class:`ConfigError` or a full disk
(:class:`StorageFullError`) fails the task at once (no retry) with its one-line cause, which
also goes into ``runs/<run_id>/summary.json``; any other error is recorded and re-raised so
Airflow retries it.

With ``SCRIBEFLOW_DATA`` on object storage, each task runs its step on a scratch folder of its
own under this host's ``SCRIBEFLOW_WORKDIR``: the video's files are checked out (its audio
only for the steps that read it), what the step wrote is published, and the scratch folder
is removed, so workers on different hosts share nothing but the bucket and the services.
Paths in what a task returns and records name the bucket, never a worker's scratch folder.
"""

from __future__ import annotations

import contextvars
import functools
import logging
import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from airflow.sdk import get_current_context

from scribeflow.core.config import RUN_PARAMS, PipelineSettings
from scribeflow.core.errors import (
    BadInputError,
    BlockedError,
    ConfigError,
    ScribeflowError,
    StorageFullError,
    no_space,
    storage_full,
)
from scribeflow.core.objects import working_copy
from scribeflow.core.timings import TaskTiming, timed
from scribeflow.pipeline import outputs as pipeline_outputs
from scribeflow.pipeline import study as pipeline_study
from scribeflow.pipeline.audio import download_video
from scribeflow.pipeline.chunks import split_transcript
from scribeflow.pipeline.document import assemble_video_document, write_document_group
from scribeflow.pipeline.results import (
    Assembled,
    ChaptersWritten,
    ChunkGroup,
    Downloaded,
    GroupWritten,
    QualityScored,
    QuizWritten,
    SpeakersFound,
    Stored,
    Summarized,
    Transcribed,
)
from scribeflow.pipeline.rows import upsert_video_rows
from scribeflow.pipeline.summary import read_run_summary, record_failure, update_run_summary
from scribeflow.pipeline.transcription import transcribe_video
from scribeflow_airflow.failures import fail

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])


def download_pause(params: dict[str, Any]) -> tuple[float, float]:
    """The run's ``[min, max]`` seconds of pause before its download (the form's two numbers)."""
    pause = (float(params.get("download_sleep_min") or 0),
             float(params.get("download_sleep_max") or 0))
    if pause[0] > pause[1]:
        raise ConfigError(f"the pause before download cannot be at least {pause[0]:g} s and at "
                          f"most {pause[1]:g} s: download_sleep_min is above download_sleep_max")
    return pause


def settings_from_params(params: dict[str, Any]) -> PipelineSettings:
    return PipelineSettings.from_env({k: params.get(k) for k in RUN_PARAMS})


#: The scratch folder of the task running now, when the data folder is on object storage.
_SCRATCH: contextvars.ContextVar[Path | None] = contextvars.ContextVar("scratch", default=None)


def _run() -> tuple[str, PipelineSettings, dict[str, Any]]:
    context = get_current_context()
    params = dict(context["params"])
    settings = settings_from_params(params)
    if (scratch := _SCRATCH.get()) is not None:
        settings = replace(settings, data_dir=scratch)
    return context["run_id"], settings, params


def _summarize(run_id: str, settings: PipelineSettings, /, **fields: Any) -> None:
    """Merge ``fields`` into the run's summary, wherever the data folder is."""
    if (scratch := _SCRATCH.get()) is not None and settings.data_url:
        fields = _rebase(fields, str(scratch), settings.data_url)
    with working_copy(settings, label="summary") as data:  # its update locks the bucket's copy
        update_run_summary(data, run_id, **fields)


def recorded(step: str, media: bool = False) -> Callable[[F], F]:
    """Record a failure of ``step`` in the run summary; fail fast on bad input. With the
    data folder on object storage, run it on a scratch copy (with the audio when ``media``)."""

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                with timed() as timing:
                    result = _on_scratch_copy(step, media, fn, *args, **kwargs)
                _record_timing(timing)
                return result
            except (BadInputError, ConfigError, BlockedError, StorageFullError) as exc:
                _record(step, exc)
                if isinstance(exc, BlockedError):
                    _record_block(exc)
                log.error("%s failed: %s", step, exc)
                fail(str(exc))
            except Exception as exc:
                _record(step, exc)
                raise

        return wrapper  # type: ignore[return-value]

    return decorate


def _on_scratch_copy(step: str, media: bool, fn: Callable[..., Any], *args: Any,
                     **kwargs: Any) -> Any:
    """``fn`` on the data folder: directly when it is local; else on a scratch folder that
    holds a copy of the video's files, whose changes are published when ``fn`` succeeds."""
    from scribeflow.core.objects import checkout, new_scratch, publish
    from scribeflow_airflow.hooks import open_data_storage

    _, settings, _ = _run()
    storage = open_data_storage(settings)
    if storage is None:
        return _with_disk_full_named(step, fn, *args, **kwargs)
    storage.check()
    if settings.store == "parquet":
        raise ConfigError("the Parquet store is a folder on one host and its writer lock holds "
                          f"on that host only: with SCRIBEFLOW_DATA={settings.data_url} use "
                          "store=pgvector")
    scratch = new_scratch(settings.data_dir, step)
    token = _SCRATCH.set(scratch)
    moved = (storage.received, storage.sent)
    try:
        args, kwargs = _rebase((args, kwargs), settings.data_url, str(scratch))
        checked_out: dict[str, dict[str, tuple[int, int]]] = {}
        if (folder := _video_folder((args, kwargs), scratch)) is not None:
            checked_out[folder] = checkout(storage, f"videos/{folder}",
                                           scratch / "videos" / folder, media=media)
        result = _with_disk_full_named(step, fn, *args, **kwargs)
        for path in sorted((scratch / "videos").glob("*")):
            sent = publish(storage, path, f"videos/{path.name}", checked_out.get(path.name))
            log.info("published %d files to %s", len(sent),
                     storage.url_of(f"videos/{path.name}"))
        return _rebase(result, str(scratch), settings.data_url)
    finally:
        log.info("object storage: %d bytes in, %d bytes out", storage.received - moved[0],
                 storage.sent - moved[1])
        _SCRATCH.reset(token)
        shutil.rmtree(scratch, ignore_errors=True)


def _rebase(value: Any, old: str, new: str) -> Any:
    """``value`` with every string under ``old`` (a folder or URL) moved under ``new``."""
    if isinstance(value, str):
        return new + value[len(old):] if value == old or value.startswith(old + "/") else value
    if isinstance(value, dict):
        return {k: _rebase(v, old, new) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_rebase(v, old, new) for v in value)
    return value


def _video_folder(value: Any, scratch: Path) -> str | None:
    """The name of the video folder a task's arguments point at (``video_dir``), if any."""
    if isinstance(value, dict):
        if isinstance(found := value.get("video_dir"), str):
            return Path(found).name if Path(found).parent == scratch / "videos" else None
        value = list(value.values())
    if isinstance(value, list | tuple):
        for item in value:
            if (name := _video_folder(item, scratch)) is not None:
                return name
    return None


def _with_disk_full_named(step: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)``, with a full disk, however a library reports it, raised as
    :class:`StorageFullError` naming the step and the file."""
    try:
        return fn(*args, **kwargs)
    except ScribeflowError:
        raise
    except Exception as exc:
        if not no_space(exc):
            raise
        name = getattr(exc, "filename", None)
        try:
            data_dir = str(_run()[1].data_dir)
        except Exception:  # the cause must not be lost to a missing context
            data_dir = str(name or ".")
        doing = f"{step} wrote {Path(name).name}" if name else f"running {step}"
        raise storage_full(data_dir, doing) from exc


def _record_timing(timing: TaskTiming) -> None:
    """The task's clock in the run summary's ``timings``, under its task id (and map index)."""
    try:
        context = get_current_context()
        ti = context["ti"]
        name = ti.task_id if ti.map_index in (None, -1) else f"{ti.task_id}[{ti.map_index}]"
        run_id, settings, _ = _run()
        _summarize(run_id, settings, timings={name: timing.as_dict()})
    except Exception:  # a clock must never fail the task it timed
        log.warning("could not record the task's timings", exc_info=True)


def _record(step: str, exc: BaseException) -> None:
    try:
        run_id, settings, _ = _run()
        with working_copy(settings, label="summary") as data:
            record_failure(data, run_id, step, exc)
    except ScribeflowError as cause:  # the data folder itself is unusable (the bucket)
        log.warning("could not record the failure in the run summary: %s", cause)
    except Exception:  # the summary must never hide the original error
        log.exception("could not record the failure in the run summary")


def _record_block(error: BlockedError) -> None:
    """The site blocked us: its sources back off, and this video waits in its source's
    pending list for a run after the cool-down."""
    from scribeflow.pipeline.ingest_records import record_block

    try:
        run_id, settings, params = _run()
        with working_copy(settings, label="block") as data:  # its updates lock the bucket's copies
            record_block(data, error, url=params["url"], run_id=run_id,
                         source=params.get("source"))
    except Exception:
        log.exception("could not record the block")


@recorded("download")
def download_audio() -> dict[str, Any]:
    from scribeflow.sources.cookies import cookie_file
    from scribeflow.sources.download import DownloadOptions
    from scribeflow_airflow.hooks import cookies_text

    run_id, settings, params = _run()
    _summarize(run_id, settings, status="running", url=params["url"],
               source=params.get("source"), settings=settings.as_dict())
    conn_id = params.get("cookies_conn_id")
    sleep = download_pause(params)
    with cookie_file(cookies_text(conn_id), f"connection {conn_id!r}") as cookiefile:
        result = download_video(params["url"], settings,
                                DownloadOptions(cookiefile=cookiefile, sleep=sleep,
                                                video_id=params.get("video_id")))
    if "://" in params["url"] and not params["url"].startswith("file://"):
        import datetime as dt

        from scribeflow.pipeline.ingest import ytdlp_staleness

        if (stale := ytdlp_staleness(dt.date.today())) is not None:
            log.warning("%s", stale)
            _summarize(run_id, settings, warnings=[stale])
    _summarize(run_id, settings, video_id=result.video_id, title=result.title,
               duration=result.duration, outputs={"folder": result.video_dir})
    return result.to_xcom()


@recorded("transcribe", media=True)
def transcribe(audio: dict[str, Any]) -> dict[str, Any]:
    run_id, settings, _ = _run()
    endpoint = None
    if settings.transcriber == "endpoint":
        from scribeflow_airflow.hooks import transcription_settings

        endpoint = transcription_settings()
    result = transcribe_video(Downloaded.from_xcom(audio).video_dir, settings, endpoint)
    warnings = [] if result.speech else ["no speech detected: the transcript is empty"]
    _summarize(run_id, settings, language=result.language,
               language_probability=result.language_probability, segments=result.segments,
               real_time_factor=result.real_time_factor, peak_memory_mb=result.peak_memory_mb,
               confidence=result.confidence,
               transcription="reused" if result.reused else "done",
               transcriber=f"{result.backend} ({result.model}, {result.timestamps} timestamps)",
               outputs={"transcript": result.transcript},
               warnings=warnings + list(result.speech_warnings))
    return result.to_xcom()


@recorded("find_speakers", media=True)
def find_speakers(transcript: dict[str, Any]) -> dict[str, Any]:
    from scribeflow.pipeline.speakers import find_speakers as find_video_speakers

    run_id, settings, _ = _run()
    result = find_video_speakers(Transcribed.from_xcom(transcript).video_dir, settings)
    if result.skipped:
        log.warning("%s", result.skipped)
        _summarize(run_id, settings, warnings=[result.skipped])
    if result.count is not None:
        _summarize(run_id, settings, speakers=result.count, speaker_turns=result.turns,
                   speakers_found="reused" if result.reused else "done",
                   outputs={"speakers": result.speakers})
    return result.to_xcom()


@recorded("split_into_chunks")
def split_into_chunks(transcript: dict[str, Any]) -> list[dict[str, Any]]:
    _, settings, _ = _run()
    groups = split_transcript(SpeakersFound.from_xcom(transcript).video_dir, settings)
    return [g.to_xcom() for g in groups]


@recorded("write_document")
def write_document(group: dict[str, Any]) -> dict[str, Any]:
    _, settings, _ = _run()
    llm = _llm()
    share = ChunkGroup.from_xcom(group)
    if not llm.configured and share.group == 0:
        log.warning("no LLM configured (connection openai_default or OPENAI_* env): document "
                    "stages skipped, raw chunk text used")
    return write_document_group(share, llm, settings).to_xcom()


@recorded("assemble_document")
def assemble_document(transcript: dict[str, Any], groups: list[dict[str, Any]]) -> dict[str, Any]:
    run_id, settings, _ = _run()
    transcribed = SpeakersFound.from_xcom(transcript)
    # one slice read of the mapped results (iterating reads one past the end, which the
    # task log reports as an error: "XCom not found")
    result = assemble_video_document(transcribed.video_dir,
                                     [GroupWritten.from_xcom(g) for g in list(groups[:])])
    llm_note = (f"{result.usage.requests} requests, {result.usage.reused} answers reused"
                if result.llm_used else "not configured: raw chunk text used")
    _summarize(run_id, settings, chunks=result.chunks, llm=llm_note,
               removed_pct=result.removed_pct, warnings=list(result.warnings),
               degraded=list(result.degraded))
    return result.to_xcom()


def _llm() -> Any:
    from scribeflow_airflow.hooks import LLMHook

    return LLMHook().get_settings()


@recorded("write_chapters")
def write_chapters(document: dict[str, Any]) -> dict[str, Any]:
    run_id, settings, _ = _run()
    result = pipeline_study.write_chapters(Assembled.from_xcom(document).video_dir, _llm(),
                                           settings)
    _summarize(run_id, settings, chapters_found=result.chapters,
               warnings=[f"chapters: {r}" for r in result.dropped])
    return result.to_xcom()


@recorded("summarize")
def summarize(document: dict[str, Any]) -> dict[str, Any]:
    from scribeflow.pipeline.summarize import summarize_video

    run_id, settings, _ = _run()
    result = summarize_video(Assembled.from_xcom(document).video_dir, _llm(), settings)
    if result.failed:
        _summarize(run_id, settings, key_moments=f"failed: {result.failed}",
                   warnings=[f"summary: {result.failed}"])
    elif result.skipped is None:
        _summarize(run_id, settings, key_moments=str(result.key_moments),
                   warnings=[f"summary: {r}" for r in result.dropped])
    return result.to_xcom()


@recorded("write_quiz")
def write_quiz(document: dict[str, Any]) -> dict[str, Any]:
    run_id, settings, _ = _run()
    result = pipeline_study.write_quiz(Assembled.from_xcom(document).video_dir, _llm(), settings)
    if result.quiz != "off":
        _summarize(run_id, settings,
                   quiz=f"{result.questions} questions ({len(result.dropped)} unreadable answers "
                        "dropped)" if result.quiz == "on" else result.quiz,
                   warnings=[f"quiz: dropped {r}" for r in result.dropped])
    return result.to_xcom()


@recorded("score_quality")
def score_quality(document: dict[str, Any]) -> dict[str, Any]:
    run_id, settings, _ = _run()
    result = pipeline_study.score_document_quality(Assembled.from_xcom(document).video_dir,
                                                   _llm(), settings)
    _summarize(run_id, settings, quality=result.quality,
               warnings=[f"quality: {r}" for r in result.dropped])
    return result.to_xcom()


@recorded("translate")
def translate(document: dict[str, Any]) -> dict[str, Any]:
    run_id, settings, _ = _run()
    from scribeflow.pipeline.translation import translate_video

    result = translate_video(Assembled.from_xcom(document).video_dir, settings, _llm())
    if settings.translate_to:
        _summarize(run_id, settings, translations=dict(result.methods),
                   outputs=dict(result.outputs),
                   warnings=[f"translation: {s}" for s in result.skipped])
    return result.to_xcom()


@recorded("render_outputs")
def render_outputs(document: dict[str, Any], summary: dict[str, Any], chapters: dict[str, Any],
                   quiz: dict[str, Any], quality: dict[str, Any]) -> dict[str, Any]:
    run_id, settings, _ = _run()
    assembled = Assembled.from_xcom(document)
    summarized = Summarized.from_xcom(summary)
    result = pipeline_outputs.render_outputs(
        assembled.video_dir, settings, _llm(), assembled, summarized,
        ChaptersWritten.from_xcom(chapters), QuizWritten.from_xcom(quiz),
        QualityScored.from_xcom(quality))
    _summarize(run_id, settings, outputs=result.outputs)
    # what embed_and_upsert needs: the folder, and whether the run is degraded (a summary
    # that failed leaves the video stored without one, and the run degraded)
    if summarized.failed:
        assembled = replace(assembled, degraded=(*assembled.degraded,
                                                 f"summary: {summarized.failed}"))
    return assembled.to_xcom()


@recorded("embed_and_upsert")
def embed_and_upsert(document: dict[str, Any]) -> dict[str, Any]:
    from scribeflow_airflow.hooks import pgvector_dsn

    run_id, settings, params = _run()
    assembled = Assembled.from_xcom(document)
    dsn = pgvector_dsn() if settings.store == "pgvector" else None
    result = upsert_video_rows(assembled.video_dir, settings, dsn)
    store = f"{result.store} ({result.total_rows} rows in all)"
    # Work a setting let through unfinished (allow_degraded) shows in the status, not only
    # in a warning.
    status = "degraded" if assembled.degraded else "success"
    changed = result.embedded or result.replaced  # rows embedded, or gone with chunks
    embedded = (f"{result.embedded} rows embedded, {result.rows - result.embedded} "
                "unchanged" if changed else "nothing changed: no model loaded")
    _summarize(run_id, settings, rows=result.rows, store=store, embedding=embedded,
               status=status, degraded=list(assembled.degraded))
    _record_stored(run_id, assembled.video_dir, params.get("source"))
    if status == "success":
        _record_done(run_id, settings, result)
    return result.to_xcom()


def _record_stored(run_id: str, video_dir: str, source: str | None) -> None:
    """``stored.json`` (when the video first reached the library), and the library asset's
    event of this run: the video's id, source and language, and whether it is new."""
    from scribeflow.core.files import VideoPaths, read_json
    from scribeflow.library.stored import record_stored
    from scribeflow_airflow.assets import LIBRARY

    video = VideoPaths(Path(video_dir))
    meta = read_json(video.metadata)
    language = read_json(video.transcript).get("language") if video.transcript.exists() else None
    stored, new = record_stored(video, meta["video_id"], run_id, source, language)
    get_current_context()["outlet_events"][LIBRARY].extra = {
        "video_id": stored.video_id, "source": source, "language": language,
        "title": meta.get("title"), "new": new, "stored_at": stored.stored_at}


def _record_done(run_id: str, settings: PipelineSettings, result: Stored) -> None:
    """The run's inputs and what it stored, for ``scribeflow run`` to find before it starts
    Airflow again (``scribeflow.pipeline.reuse``). The data folder on object storage is not looked
    up that way."""
    from scribeflow.core.files import DataPaths
    from scribeflow.pipeline.reuse import Done, record_done, request_key

    if settings.data_url:
        return
    try:
        _, _, params = _run()
        endpoint = None
        if settings.transcriber == "endpoint":
            from scribeflow_airflow.hooks import transcription_settings

            endpoint = transcription_settings()
        summary = read_run_summary(settings, run_id)
        key = request_key(params["url"], settings, _llm(), endpoint)
        record_done(DataPaths(settings.data_dir), Done(
            key=key, run_id=run_id, video_id=summary.video_id, rows=result.rows,
            rows_digest=result.rows_digest, quiz="quiz_html" in summary.outputs))
    except Exception:  # the record saves time later; its absence costs a DAG run
        log.warning("could not record the run for reuse", exc_info=True)
