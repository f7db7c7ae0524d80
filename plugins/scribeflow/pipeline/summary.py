"""A run's summary: what each step reported, the outputs, and the cause of a failure.

:class:`RunSummary` declares every field ``runs/<run>/summary.json`` holds, with its type.
:func:`update_run_summary` is its one writer (a field it does not declare is an error at
once, not a key no reader looks for) and :func:`read_run_summary` its one reader.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scribeflow.core.errors import one_line
from scribeflow.core.files import DataPaths, locked, read_json, write_json_atomic

if TYPE_CHECKING:
    from scribeflow.core.config import PipelineSettings


@dataclass(frozen=True)
class RunSummary:
    """One ``video_pipeline`` run, as its tasks reported it."""

    run_id: str | None = None
    #: ``running``, then ``success``, ``degraded`` or ``failed`` (``invalid``: never started).
    status: str = "running"
    updated_at: str | None = None
    url: str | None = None
    #: The channel source that triggered the run, if one did.
    source: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    video_id: str | None = None
    title: str | None = None
    duration: float | None = None
    language: str | None = None
    #: How sure whisper was of the detected language (None: named by the run).
    language_probability: float | None = None
    segments: int | None = None
    real_time_factor: float | None = None
    peak_memory_mb: float | None = None
    confidence: float | None = None
    transcription: str | None = None
    transcriber: str | None = None
    #: Speakers found and their turns (None: the run did not look), ``done`` or ``reused``.
    speakers: int | None = None
    speaker_turns: int | None = None
    speakers_found: str | None = None
    chunks: int | None = None
    llm: str | None = None
    removed_pct: float | None = None
    chapters_found: int | None = None
    #: The video's summary: its key moments (``5``), or ``failed: <cause>``.
    key_moments: str | None = None
    quiz: str | None = None
    quality: int | None = None
    #: How each language of ``translate_to`` was made (``llm``, ``whisper``, …), by code.
    translations: dict[str, str] = field(default_factory=dict)
    rows: int | None = None
    store: str | None = None
    embedding: str | None = None
    #: The files a run made, by name (paths, or URLs with the data on object storage).
    outputs: dict[str, str] = field(default_factory=dict)
    #: Each task's clock (``scribeflow.core.timings.TaskTiming``), by task id.
    timings: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    #: The one-line causes the run ends ``degraded`` for.
    degraded: list[str] = field(default_factory=list)
    #: ``{"step", "cause", "kind"}`` of a failed run.
    error: dict[str, str] | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunSummary:
        """From ``summary.json``; keys of older versions that no field declares are left."""
        return cls(**{k: v for k, v in data.items() if k in FIELDS})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def get(self, name: str, default: Any = None) -> Any:
        """A field by name (None when unset), for callers that pick fields from a table."""
        value = getattr(self, name)
        return default if value is None else value


FIELDS = frozenset(f.name for f in dataclasses.fields(RunSummary))
#: Fields whose updates merge into what is there (dicts by key, lists appended).
_MERGED = ("outputs", "timings", "warnings", "translations")


def summary_key(run_id: str) -> str:
    """The run summary's place relative to the data folder (``runs/<run>/summary.json``)."""
    return DataPaths(Path(".")).run_summary(run_id).as_posix().removeprefix("./")


def read_run_summary(settings: PipelineSettings, run_id: str) -> RunSummary | None:
    """``run_id``'s summary from the local data folder or the bucket; None when none."""
    if settings.data_url:
        from scribeflow.core.objects import open_storage

        data = open_storage(settings.data_url).read_bytes(summary_key(run_id))
        return RunSummary.from_dict(json.loads(data)) if data else None
    path = DataPaths(settings.data_dir).run_summary(run_id)
    return RunSummary.from_dict(read_json(path)) if path.exists() else None


def update_run_summary(data: DataPaths, run_id: str, **fields: Any) -> Path:
    """Merge ``fields`` into the run's ``summary.json`` (locked read-modify-write, atomic):
    ``outputs`` and ``timings`` by key, ``warnings`` appended, the others replaced. A name
    :class:`RunSummary` does not declare is a TypeError."""
    unknown = sorted(set(fields) - FIELDS)
    if unknown:
        raise TypeError(f"RunSummary has no field(s) {unknown}")
    path = data.run_summary(run_id)
    with locked(path):
        summary = read_json(path) if path.exists() else {"run_id": run_id, "status": "running"}
        for key, value in fields.items():
            if key == "warnings":
                summary.setdefault("warnings", []).extend(value)
            elif key in _MERGED and isinstance(value, dict):
                summary.setdefault(key, {}).update(value)
            else:
                summary[key] = value
        summary["updated_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        write_json_atomic(path, summary)
    return path


def record_failure(data: DataPaths, run_id: str, step: str, error: BaseException | str) -> Path:
    """Mark the run failed with its one-line cause and its kind (``bad_input``, ``config``,
    ``blocked`` or ``error``), which decides whether channel ingestion tries it again."""
    from scribeflow.core.errors import describe, error_kind

    cause = one_line(error) if isinstance(error, str) else describe(error)
    kind = "error" if isinstance(error, str) else error_kind(error)
    return update_run_summary(data, run_id, status="failed",
                              error={"step": step, "cause": cause, "kind": kind})


def format_summary(summary: RunSummary | dict[str, Any]) -> str:
    """The one-screen summary ``scribeflow run`` prints."""
    if isinstance(summary, dict):
        summary = RunSummary.from_dict(summary)
    lines = [f"{'status:':<18}{summary.status}"]
    if summary.error:
        err = summary.error
        lines.append(f"{'error:':<18}{err.get('cause')} (step {err.get('step')})")
    fields = (
        ("title", "title", "{}"), ("video id", "video_id", "{}"), ("duration", "duration", "{:.1f} s"),
        ("language", "language", "{}"), ("segments", "segments", "{}"), ("chunks", "chunks", "{}"),
        ("transcription", "transcription", "{}"), ("transcriber", "transcriber", "{}"),
        ("real-time factor", "real_time_factor", "{:.3f}"),
        ("peak memory", "peak_memory_mb", "{} MB (transcribe's process)"),
        ("confidence", "confidence", "{}"),
        ("LLM", "llm", "{}"),
        ("preamble removed", "removed_pct", "{:.1f}%"), ("stored rows", "rows", "{}"),
        ("embedding", "embedding", "{}"),
        ("key moments", "key_moments", "{}"), ("chapters", "chapters_found", "{}"),
        ("quiz", "quiz", "{}"),
        ("store", "store", "{}"), ("quality", "quality", "{}"),
    )
    for label, key, fmt in fields:
        if summary.get(key) is not None:
            lines.append(f"{label + ':':<18}{fmt.format(summary.get(key))}")
            if key == "language" and summary.language_probability is not None:
                lines[-1] += f" (detected, probability {summary.language_probability:.2f})"
    if summary.status == "success" and summary.quality is None:
        lines.append(f"{'quality:':<18}not scored")
    for name, path in summary.outputs.items():
        lines.append(f"{name + ':':<18}{path}")
    for item in summary.degraded:
        lines.append(f"{'degraded:':<18}{item}")
    for warning in summary.warnings[:8]:
        lines.append(f"{'warning:':<18}{warning}")
    return "\n".join(lines)


#: Lines of a run's note that Scribeflow wrote (replaced when the run ends again): the video's
#: title (the note's first line, which the runs list shows), the outcome, its results page.
NOTE_PREFIX = "Result: "
TITLE_PREFIX = "Video: "
PAGE_PREFIX = "Results page: "
#: Where the Airflow plugin mounts the search app (scribeflow_plugin.py).
APP_PREFIX = "/scribeflow"


def counted(n: int, one: str, many: str | None = None) -> str:
    """``1 chunk``, ``2 chunks``."""
    return f"{n} {one if n == 1 else many or one + 's'}"


def run_note(summary: RunSummary | dict[str, Any] | None, state: str,
             existing: str | None = None, limit: int = 1000) -> str:
    """The DAG run's note in the UI: the video's title (unless a channel's trigger note
    names it already), whatever was there before, one ``Result:`` line with the outcome and
    its cause, and a link to the video's results page (Markdown: the UI renders notes)."""
    from scribeflow.core.links import results_path

    if not isinstance(summary, RunSummary):
        summary = RunSummary.from_dict({"status": state} | (summary or {}))
    if summary.status == "failed" or state == "failed":
        err = summary.error or {}
        cause = err.get("cause") or "a task failed; see its log"
        outcome = f"failed at {err['step']}: {cause}" if err.get("step") else f"failed: {cause}"
    elif summary.degraded:
        items = summary.degraded
        more = f" (and {len(items) - 1} more)" if len(items) > 1 else ""
        outcome = f"degraded: {items[0]}{more}"
    else:
        figures = [counted(n, *label) for n, label in (
            (summary.chunks, ("chunk",)), (summary.rows, ("row stored", "rows stored")))
            if n is not None]
        outcome = "success" + (f": {', '.join(figures)}" if figures else "")
    ours = (NOTE_PREFIX, TITLE_PREFIX, PAGE_PREFIX)
    kept = [line for line in (existing or "").splitlines()
            if line.strip() and not line.startswith(ours)]
    title = [one_line(TITLE_PREFIX + summary.title, limit=200)] if (
        summary.title and not kept) else []
    page = []
    if summary.video_id:
        path = f"{APP_PREFIX}/{results_path(summary.video_id, summary.run_id)}"
        page = [f"{PAGE_PREFIX}[{APP_PREFIX}/{results_path(summary.video_id)}]({path})"]
    fixed = sum(len(x) + 1 for x in [*title, *kept, *page])
    line = one_line(NOTE_PREFIX + outcome, limit=max(limit - fixed, 80))
    return "\n".join([*title, *kept, line, *page])[:limit]
