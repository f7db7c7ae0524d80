"""A run's summary: what each step reported, the outputs, and the cause of a failure."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from scribeflow.errors import one_line
from scribeflow.files import DataPaths, locked, read_json, write_json_atomic


def update_run_summary(data: DataPaths, run_id: str, **fields: Any) -> Path:
    """Merge ``fields`` into the run's ``summary.json`` (locked read-modify-write, atomic)."""
    path = data.run_summary(run_id)
    with locked(path):
        summary = read_json(path) if path.exists() else {"run_id": run_id, "status": "running"}
        for key, value in fields.items():
            if key in ("outputs", "steps") and isinstance(value, dict):
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
    from scribeflow.errors import describe, error_kind

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
        ("transcription", "transcription", "{}"),
        ("real-time factor", "real_time_factor", "{:.3f}"),
        ("peak memory", "peak_memory_mb", "{} MB (transcribe's process)"),
        ("confidence", "confidence", "{}"),
        ("LLM", "llm", "{}"),
        ("preamble removed", "removed_pct", "{:.1f}%"), ("stored rows", "rows", "{}"),
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
