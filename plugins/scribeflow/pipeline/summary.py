"""A run's summary: what each step reported, the outputs, and the cause of a failure."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scribeflow.core.errors import one_line
from scribeflow.core.files import DataPaths, locked, read_json, write_json_atomic

if TYPE_CHECKING:
    from scribeflow.core.config import PipelineSettings


def summary_key(run_id: str) -> str:
    """The run summary's place relative to the data folder (``runs/<run>/summary.json``)."""
    return DataPaths(Path(".")).run_summary(run_id).as_posix().removeprefix("./")


def read_run_summary(settings: PipelineSettings, run_id: str) -> dict[str, Any] | None:
    """``run_id``'s summary from the local data folder or the bucket; None when none."""
    if settings.data_url:
        from scribeflow.core.objects import open_storage

        data = open_storage(settings.data_url).read_bytes(summary_key(run_id))
        return json.loads(data) if data else None
    path = DataPaths(settings.data_dir).run_summary(run_id)
    return read_json(path) if path.exists() else None


def update_run_summary(data: DataPaths, run_id: str, **fields: Any) -> Path:
    """Merge ``fields`` into the run's ``summary.json`` (locked read-modify-write, atomic)."""
    path = data.run_summary(run_id)
    with locked(path):
        summary = read_json(path) if path.exists() else {"run_id": run_id, "status": "running"}
        for key, value in fields.items():
            if key in ("outputs", "steps", "timings") and isinstance(value, dict):
                summary.setdefault(key, {}).update(value)
            elif key == "warnings":
                summary.setdefault("warnings", []).extend(value)
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


def format_summary(summary: dict[str, Any]) -> str:
    """The one-screen summary ``scribeflow run`` prints."""
    lines = [f"{'status:':<18}{summary.get('status', '?')}"]
    if summary.get("error"):
        err = summary["error"]
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
        ("chapters", "chapters_found", "{}"), ("quiz", "quiz", "{}"),
        ("store", "store", "{}"), ("quality", "quality", "{}"),
    )
    for label, key, fmt in fields:
        if summary.get(key) is not None:
            lines.append(f"{label + ':':<18}{fmt.format(summary[key])}")
    if summary.get("status") == "success" and summary.get("quality") is None:
        lines.append(f"{'quality:':<18}not scored")
    for name, path in (summary.get("outputs") or {}).items():
        lines.append(f"{name + ':':<18}{path}")
    for item in summary.get("degraded") or []:
        lines.append(f"{'degraded:':<18}{item}")
    for warning in (summary.get("warnings") or [])[:8]:
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


def run_note(summary: dict[str, Any] | None, state: str, existing: str | None = None,
             limit: int = 1000) -> str:
    """The DAG run's note in the UI: the video's title (unless a channel's trigger note
    names it already), whatever was there before, one ``Result:`` line with the outcome and
    its cause, and a link to the video's results page (Markdown: the UI renders notes)."""
    from scribeflow.core.links import results_path

    summary = summary or {}
    status = summary.get("status") or state
    if status == "failed" or state == "failed":
        err = summary.get("error") or {}
        cause = err.get("cause") or "a task failed; see its log"
        outcome = f"failed at {err['step']}: {cause}" if err.get("step") else f"failed: {cause}"
    elif summary.get("degraded"):
        items = summary["degraded"]
        more = f" (and {len(items) - 1} more)" if len(items) > 1 else ""
        outcome = f"degraded: {items[0]}{more}"
    else:
        figures = [counted(summary[k], *label) for k, label in (
            ("chunks", ("chunk",)), ("rows", ("row stored", "rows stored")))
            if summary.get(k) is not None]
        outcome = "success" + (f": {', '.join(figures)}" if figures else "")
    ours = (NOTE_PREFIX, TITLE_PREFIX, PAGE_PREFIX)
    kept = [line for line in (existing or "").splitlines()
            if line.strip() and not line.startswith(ours)]
    title = [one_line(TITLE_PREFIX + summary["title"], limit=200)] if (
        summary.get("title") and not kept) else []
    page = []
    if summary.get("video_id"):
        path = f"{APP_PREFIX}/{results_path(summary['video_id'], summary.get('run_id'))}"
        page = [f"{PAGE_PREFIX}[{APP_PREFIX}/{results_path(summary['video_id'])}]({path})"]
    fixed = sum(len(x) + 1 for x in [*title, *kept, *page])
    line = one_line(NOTE_PREFIX + outcome, limit=max(limit - fixed, 80))
    return "\n".join([*title, *kept, line, *page])[:limit]
