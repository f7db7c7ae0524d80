"""What channel ingestion keeps between runs: each source's state and summaries, sites'
blocks and their back-off, and the notes of channel runs."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from scribeflow.core.errors import BlockedError, describe, error_kind, one_line
from scribeflow.core.files import (
    DataPaths,
    locked,
    read_json,
    refresh,
    safe_name,
    write_json_atomic,
)
from scribeflow.sources.listing import Entry

log = logging.getLogger(__name__)


def state_path(data: DataPaths, source: str) -> Path:
    return data.root / "sources" / safe_name(source) / "state.json"


def block_path(data: DataPaths, site: str) -> Path:
    return data.root / "blocks" / f"{safe_name(site)}.json"


def ingest_summary_path(data: DataPaths, source: str, run_id: str) -> Path:
    return data.root / "runs" / f"channel__{safe_name(source)}" / safe_name(run_id) / "summary.json"


def record_block(data: DataPaths, error: BlockedError, *, url: str, run_id: str | None = None,
                 source: str | None = None, title: str | None = None,
                 now: dt.datetime | None = None) -> None:
    """Remember that ``error.site`` blocked us (sources of that site back off), and put the
    interrupted video back in its source's pending list so a later run tries it again."""
    now = now or dt.datetime.now(dt.UTC)
    path = block_path(data, error.site)
    with locked(path):
        write_json_atomic(path, {"site": error.site, "at": now.isoformat(), "cause": str(error),
                                 "run_id": run_id, "source": source})
    if source and run_id and run_id.startswith(RUN_PREFIX):
        entry = Entry(key=run_id.removeprefix(RUN_PREFIX), url=url, title=title or url,
                      published=None)
        spath = state_path(data, source)
        with locked(spath):
            state = SourceState.load(spath)
            state.pending[run_id] = {"entry": entry.to_dict(), "reason": "blocked",
                                     "since": now.isoformat()}
            state.save(spath)
    log.warning("%s; sources of %s back off", error, error.site)


def active_backoff(data: DataPaths, sites: Iterable[str], cooldown: float,
                   now: dt.datetime) -> Backoff | None:
    for site in sorted(set(sites)):
        path = block_path(data, site)
        if not path.exists():
            continue
        block = read_json(path)
        until = dt.datetime.fromisoformat(block["at"]) + dt.timedelta(seconds=cooldown)
        if until > now:
            return Backoff(site=site, until=until, cause=block.get("cause", "blocked"))
    return None


def past_run_from_summary(data: DataPaths, run_id: str) -> PastRun | None:
    """A video run as its ``summary.json`` tells it (None when it never started)."""
    path = data.run_summary(run_id)
    refresh(path)  # the bucket's copy, with the data on object storage
    if not path.exists():
        return None
    from scribeflow.pipeline.summary import RunSummary

    summary = RunSummary.from_dict(read_json(path))
    error = summary.error or {}
    return PastRun(state=summary.status, kind=error.get("kind"), cause=error.get("cause"),
                   source=summary.source)


def failure(error: BaseException) -> dict[str, str]:
    """A failed listing as its summary records it."""
    return {"cause": describe(error), "kind": error_kind(error)}


@dataclass(frozen=True)
class ChannelRunSummary:
    """A channel run's ``summary.json`` (``runs/channel__<source>/<run>/``): every field
    declared, written only by :func:`write_ingest_summary` (which refuses any other), read
    only by :func:`read_ingest_summary`. Both the channel DAGs and ``scribeflow ingest``
    write it: the listing's figures the same way (``pipeline.ingest.list_source``); what
    became of the videos as triggered (the DAG) or as run (the CLI)."""

    source: str | None = None
    run_id: str | None = None
    updated_at: str | None = None
    dag_id: str | None = None
    #: ``running``, ``triggering`` or ``processing``, then ``success`` or ``failed``.
    status: str = "running"
    url: str | None = None
    window: dict[str, Any] = field(default_factory=dict)
    #: ``{"cause", "kind"}`` of a failed run.
    error: dict[str, str] | None = None
    found: int = 0
    listing_requests: int = 0
    outside_window: int = 0
    new: int = 0
    retried: list[str] = field(default_factory=list)
    #: Reason -> how many entries.
    skipped: dict[str, int] = field(default_factory=dict)
    deferred: dict[str, int] = field(default_factory=dict)
    to_trigger: list[str] = field(default_factory=list)
    backoff: dict[str, str] | None = None
    warnings: list[str] = field(default_factory=list)
    #: Video run ids, as the DAG's triggers ended.
    triggered: list[str] = field(default_factory=list)
    already_there: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    #: Video run ids, as ``scribeflow ingest`` ran them.
    succeeded: list[str] = field(default_factory=list)
    already_done: list[str] = field(default_factory=list)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ChannelRunSummary:
        return cls(**{k: v for k, v in data.items() if k in CHANNEL_FIELDS})


CHANNEL_FIELDS = frozenset(f.name for f in fields(ChannelRunSummary))


def read_ingest_summary(data: DataPaths, source: str, run_id: str) -> ChannelRunSummary | None:
    path = ingest_summary_path(data, source, run_id)
    return ChannelRunSummary.from_dict(read_json(path)) if path.exists() else None


def ingest_summary_of(settings: Any, source: str, run_id: str) -> ChannelRunSummary | None:
    """The channel run's summary from the local data folder or, with the data on object
    storage, from the bucket (None when there is none)."""
    if settings.data_url:
        import json

        from scribeflow.core.objects import open_storage

        key = ingest_summary_path(DataPaths(Path(".")), source, run_id).as_posix()
        raw = open_storage(settings.data_url).read_bytes(key.removeprefix("./"))
        return ChannelRunSummary.from_dict(json.loads(raw)) if raw else None
    return read_ingest_summary(DataPaths(settings.data_dir), source, run_id)


def ingest_note(summary: ChannelRunSummary | dict[str, Any] | None, state: str) -> str:
    """A channel run's note in the UI: what its listing found and what became of it
    ("Result: success: 12 listed, 3 triggered, 2 already there, 6 skipped (5 stored,
    1 short), 1 deferred (daily cap)"), or the one-line cause of its failure."""
    from scribeflow.pipeline.summary import NOTE_PREFIX

    if not isinstance(summary, ChannelRunSummary):
        summary = ChannelRunSummary.from_dict({"status": state} | (summary or {}))
    if state == "failed" or summary.status == "failed":
        cause = (summary.error or {}).get("cause") or "a task failed; see its log"
        return one_line(f"{NOTE_PREFIX}failed: {cause}", limit=1000)
    parts = [f"{summary.found} listed"]
    for runs, label in ((summary.triggered, "triggered"), (summary.already_there,
                                                            "already there")):
        if runs:
            parts.append(f"{len(runs)} {label}")
    for key, reasons in (("skipped", summary.skipped), ("deferred", summary.deferred)):
        if reasons:
            why = ", ".join(f"{n} {reason.replace('_', ' ')}"
                            for reason, n in sorted(reasons.items()))
            parts.append(f"{sum(reasons.values())} {key} ({why})")
    if summary.outside_window:
        parts.append(f"{summary.outside_window} outside the window")
    return one_line(f"{NOTE_PREFIX}{state}: {', '.join(parts)}", limit=1000)


def write_ingest_summary(data: DataPaths, source: str, run_id: str, /, **values: Any) -> Path:
    """Merge ``values`` into the channel run's summary (atomic, locked); a name
    :class:`ChannelRunSummary` does not declare is a TypeError."""
    unknown = sorted(set(values) - CHANNEL_FIELDS)
    if unknown:
        raise TypeError(f"ChannelRunSummary has no field(s) {unknown}")
    path = ingest_summary_path(data, source, run_id)
    with locked(path):
        summary = read_json(path) if path.exists() else {"source": source, "run_id": run_id}
        summary.update(values)
        summary["updated_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        write_json_atomic(path, summary)
    return path


RUN_PREFIX = "ingest__"


def video_run_id(key: str) -> str:
    """The ``video_pipeline`` run id of a video: the same from every source and backfill."""
    return RUN_PREFIX + safe_name(key)


@dataclass(frozen=True)
class PastRun:
    """What is known of a video's run: its state and, when it failed, how."""

    state: str
    kind: str | None = None
    cause: str | None = None
    source: str | None = None


@dataclass(frozen=True)
class Backoff:
    site: str
    until: dt.datetime
    cause: str


@dataclass
class SourceState:
    """What a source carries from run to run (``sources/<name>/state.json``)."""

    #: run id -> {"entry": Entry dict, "reason": why it waits, "since": ISO time}
    pending: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: UTC day -> videos triggered that day (the daily cap)
    daily: dict[str, int] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> SourceState:
        if not path.exists():
            return cls()
        data = read_json(path)
        return cls(pending=dict(data.get("pending") or {}), daily=dict(data.get("daily") or {}))

    def save(self, path: Path) -> None:
        days = sorted(self.daily)[-14:]  # a fortnight of counts is plenty
        write_json_atomic(path, {"pending": self.pending,
                                 "daily": {d: self.daily[d] for d in days}})


