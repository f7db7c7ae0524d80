"""Channel ingestion: decide which of a source's uploads to process, and remember the rest.

One function, :func:`ingest_source`, serves the scheduled ``channel__<name>`` DAGs, their
backfills and ``scribeflow ingest``. It lists the source, keeps what was published inside
the run's window ``[start, end)``, skips with a reason what must not be processed, and
returns the ``video_pipeline`` runs to trigger, each under a deterministic run id
(``ingest__<video id>``): the same video gets the same run from any source, schedule or
backfill, so it is never processed twice. Newest first, at most ``max_per_run`` (and the
daily cap); what is left, and what a site's block interrupted, waits in the source's state
(``sources/<name>/state.json``) for the next run, whatever its window.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scribeflow.core.errors import BlockedError, ScribeflowError, describe, error_kind, one_line
from scribeflow.core.files import (
    DataPaths,
    locked,
    read_json,
    refresh,
    safe_name,
    write_json_atomic,
)
from scribeflow.sources.catalog import Source
from scribeflow.sources.listing import Entry, Lister
from scribeflow.sources.sites import site_of

log = logging.getLogger(__name__)

RUN_PREFIX = "ingest__"
YTDLP_MAX_AGE_DAYS = 90


def video_run_id(key: str) -> str:
    """The ``video_pipeline`` run id of a video: the same from every source and backfill."""
    return RUN_PREFIX + safe_name(key)


@dataclass(frozen=True)
class Window:
    """The uploads a run covers: published in ``[start, end)``. ``live`` runs reach the
    present, so they also take undated entries (deduplicated by run id); backfills do not."""

    start: dt.datetime | None
    end: dt.datetime | None
    live: bool = True

    @classmethod
    def of_interval(cls, start: dt.datetime, end: dt.datetime, now: dt.datetime) -> Window:
        """A scheduled run's data interval; it is live unless it ended more than one interval
        (at least a day) ago, as a backfill's do."""
        return cls(start, end, live=now - end <= max(end - start, dt.timedelta(days=1)))

    def place(self, when: dt.datetime) -> str:
        if self.start is not None and when < self.start:
            return "before"
        if self.end is not None and when >= self.end:
            return "after"
        return "inside"

    def to_dict(self) -> dict[str, Any]:
        return {"start": self.start.isoformat() if self.start else None,
                "end": self.end.isoformat() if self.end else None, "live": self.live}


@dataclass(frozen=True)
class PastRun:
    """What is known of a video's run: its state and, when it failed, how."""

    state: str
    kind: str | None = None
    cause: str | None = None
    source: str | None = None


@dataclass(frozen=True)
class Decision:
    entry: Entry
    #: ``trigger``, ``retry`` (a run that was blocked or met a full disk, again), ``skip``, ``defer`` or ``outside``.
    action: str
    reason: str
    detail: str = ""

    @property
    def run_id(self) -> str:
        return video_run_id(self.entry.key)


@dataclass(frozen=True)
class Backoff:
    site: str
    until: dt.datetime
    cause: str


@dataclass(frozen=True)
class IngestPlan:
    source: str
    window: Window
    decisions: tuple[Decision, ...]
    #: Entries the listing returned (pending ones from earlier runs not counted).
    found: int = 0
    requests: int = 0
    backoff: Backoff | None = None
    warnings: tuple[str, ...] = ()

    @property
    def to_trigger(self) -> tuple[Decision, ...]:
        return tuple(d for d in self.decisions if d.action in ("trigger", "retry"))

    def counts(self, action: str) -> dict[str, int]:
        return dict(Counter(d.reason for d in self.decisions if d.action == action))

    def summary(self) -> dict[str, Any]:
        return {
            "source": self.source, "window": self.window.to_dict(),
            "found": self.found, "listing_requests": self.requests,
            "outside_window": sum(1 for d in self.decisions if d.action == "outside"),
            "new": sum(1 for d in self.decisions if d.action == "trigger"),
            "retried": [d.run_id for d in self.decisions if d.action == "retry"],
            "skipped": self.counts("skip"), "deferred": self.counts("defer"),
            "to_trigger": [d.run_id for d in self.to_trigger],
            "backoff": ({"site": self.backoff.site, "until": self.backoff.until.isoformat(),
                         "cause": self.backoff.cause} if self.backoff else None),
        }


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


def decide(entries: Iterable[Entry], source: Source, window: Window, *, now: dt.datetime,
           past_run: Callable[[str], PastRun | None], stored: Callable[[str], bool],
           pending: Iterable[Entry] = (), resolve: Callable[[Entry], Entry] | None = None,
           backoff: Backoff | None = None, triggered_today: int = 0) -> list[Decision]:
    """Every listed entry's decision, then the pending ones', newest first among triggers."""
    decisions: list[Decision] = []
    candidates: list[Decision] = []  # what may be triggered, before the limits
    seen: set[str] = set()

    def consider(entry: Entry, origin: str) -> None:
        run_id = video_run_id(entry.key)
        if run_id in seen:
            if origin == "listed":
                decisions.append(Decision(entry, "skip", "duplicate", "listed twice"))
            return
        seen.add(run_id)
        if origin == "listed":
            if entry.published is None:
                if not window.live:
                    decisions.append(Decision(entry, "skip", "no_date",
                                              "no publish date: left to the scheduled runs"))
                    return
            else:
                if entry.approximate and resolve is not None and window.place(entry.published) != "before":
                    entry = resolve(entry)
                if entry.published is not None and (place := window.place(entry.published)) != "inside":
                    decisions.append(Decision(entry, "outside", f"{place}_window"))
                    return
        skip = _content_skip(entry, source, now) or _history_skip(entry, source, past_run, stored)
        if skip is None:
            candidates.append(Decision(entry, "trigger", "new" if origin == "listed" else "pending"))
        elif skip[0].startswith("retry_"):  # blocked, or the disk was full
            candidates.append(Decision(entry, "retry", skip[0].removeprefix("retry_"), skip[1]))
        else:
            decisions.append(Decision(entry, "skip", skip[0], skip[1]))

    for entry in entries:
        consider(entry, "listed")
    for entry in pending:
        consider(entry, "pending")
    newest = sorted((c for c in candidates if c.entry.published is not None),
                    key=lambda c: c.entry.published, reverse=True)
    undated = [c for c in candidates if c.entry.published is None]
    room = source.max_per_run
    if source.daily_cap is not None:
        room = min(room, max(0, source.daily_cap - triggered_today))
    for n, candidate in enumerate(newest + undated):
        entry = candidate.entry
        if backoff is not None:
            decisions.append(Decision(entry, "defer", "backoff",
                                      f"{backoff.site} blocked us: waiting until "
                                      f"{backoff.until:%Y-%m-%d %H:%M} UTC"))
        elif n < room:
            decisions.append(candidate)
        else:
            capped = source.daily_cap is not None and room < source.max_per_run
            decisions.append(Decision(entry, "defer", "daily_cap" if capped else "max_per_run",
                                      f"over this run's limit of {room}: waits for the next run"))
    return decisions


def _content_skip(entry: Entry, source: Source, now: dt.datetime) -> tuple[str, str] | None:
    if entry.problem:
        return "unusable", entry.problem
    if entry.live_status == "is_live":
        return "live", "a live stream: wait until it has ended"
    if entry.live_status == "is_upcoming" or (entry.release is not None and entry.release > now):
        return "upcoming", "an upcoming stream or premiere that has not aired yet"
    if entry.availability == "private":
        return "private", "private"
    if entry.availability in ("subscriber_only", "premium_only", "needs_auth"):
        return "members_only", f"not public ({entry.availability})"
    if entry.is_short and not source.include_shorts:
        return "short", "a short (include_shorts is off)"
    if entry.duration is not None:
        if source.min_duration is not None and entry.duration < source.min_duration:
            return "too_short", f"{entry.duration:.0f} s is under min_duration {source.min_duration:g} s"
        if source.max_duration is not None and entry.duration > source.max_duration:
            return "too_long", f"{entry.duration:.0f} s is over max_duration {source.max_duration:g} s"
    if source.title_include and not any(re.search(p, entry.title, re.IGNORECASE)
                                        for p in source.title_include):
        return "title", "the title matches no title_include pattern"
    for pattern in source.title_exclude:
        if re.search(pattern, entry.title, re.IGNORECASE):
            return "title", f"the title matches title_exclude {pattern!r}"
    return None


def _history_skip(entry: Entry, source: Source, past_run: Callable[[str], PastRun | None],
                  stored: Callable[[str], bool]) -> tuple[str, str] | None:
    past = past_run(video_run_id(entry.key))
    if past is not None:
        by = f", by source {past.source}" if past.source and past.source != source.name else ""
        if past.state != "failed":
            return "triggered", f"already triggered ({past.state}{by})"
        if past.kind in ("blocked", "disk_full"):  # the site or the disk, not the video
            return f"retry_{past.kind}", f"its run could not finish before: {past.cause}"
        return "failed_before", f"its run failed ({past.cause}); clear that run to try again"
    if stored(entry.key):
        return "stored", "already in the store"
    return None


def ingest_source(source: Source, window: Window, data: DataPaths, *, lister: Lister,
                  past_run: Callable[[str], PastRun | None], stored: Callable[[str], bool],
                  now: dt.datetime | None = None, dry_run: bool = False,
                  max_per_run: int | None = None) -> IngestPlan:
    """List ``source``, decide, and (unless ``dry_run``) update its pending list and daily
    count. A site's refusal to list is recorded as a block and raised."""
    now = now or dt.datetime.now(dt.UTC)
    if max_per_run is not None:
        source = source.model_copy(update={"max_per_run": max_per_run})
    path = state_path(data, source.name)
    state = SourceState.load(path)
    pending = [Entry.from_dict(p["entry"]) for p in state.pending.values()]
    try:
        listed = list(lister.entries(source.url, source.kind, since=window.start,
                                     include_shorts=source.include_shorts))
    except BlockedError as error:
        if not dry_run:
            record_block(data, error, url=source.url, source=source.name, now=now)
        raise
    sites = {site_of(source.url)} | {site_of(e.url) for e in listed + pending if e.url}
    backoff = active_backoff(data, sites, source.cooldown, now)
    decisions = decide(listed, source, window, now=now, past_run=past_run, stored=stored,
                       pending=pending, resolve=lister.resolve, backoff=backoff,
                       triggered_today=state.daily.get(now.date().isoformat(), 0))
    warnings = []
    if listed == [] and not pending:
        warnings.append(f"{source.url} lists no entries")
    if (stale := ytdlp_staleness(now.date())) is not None:
        warnings.append(stale)
    plan = IngestPlan(source=source.name, window=window, decisions=tuple(decisions),
                      found=len(listed), requests=lister.requests, backoff=backoff, warnings=tuple(warnings))
    for decision in decisions:
        when = f"{decision.entry.published:%Y-%m-%d}" if decision.entry.published else "undated"
        log.info("%-7s %s %s %r%s", decision.action, when, decision.entry.key,
                 decision.entry.title, f" ({decision.reason}: {decision.detail})"
                 if decision.detail else f" ({decision.reason})")
    if not dry_run:
        _update_state(path, plan, now)
    return plan


def _update_state(path: Path, plan: IngestPlan, now: dt.datetime) -> None:
    with locked(path):
        state = SourceState.load(path)  # again, under the lock: another run may have written
        for decision in plan.decisions:
            if decision.action in ("trigger", "retry") or decision.action == "skip":
                state.pending.pop(decision.run_id, None)
            elif decision.action == "defer":
                state.pending[decision.run_id] = {
                    "entry": decision.entry.to_dict(), "reason": decision.reason,
                    "since": state.pending.get(decision.run_id, {}).get("since", now.isoformat())}
        day = now.date().isoformat()
        state.daily[day] = state.daily.get(day, 0) + len(plan.to_trigger)
        state.save(path)


def stored_lookup(settings: Any, dsn: str | None = None) -> Callable[[str], bool]:
    """``stored(video_id)``: whether the store ``settings.store`` names holds the video. The
    store is read once, on the first question; failing to read it is a one-line error."""
    ids: set[str] | None = None

    def stored(video_id: str) -> bool:
        nonlocal ids
        if ids is None:
            from scribeflow.index.store import open_store

            try:
                ids = open_store(settings, dsn).video_ids()
            except ScribeflowError:
                raise
            except Exception as exc:
                raise ScribeflowError(f"cannot read the {settings.store} store to tell which "
                                      f"videos it holds: {exc}") from None
        return video_id in ids

    return stored


def past_run_from_summary(data: DataPaths, run_id: str) -> PastRun | None:
    """A video run as its ``summary.json`` tells it (None when it never started)."""
    path = data.run_summary(run_id)
    refresh(path)  # the bucket's copy, with the data on object storage
    if not path.exists():
        return None
    summary = read_json(path)
    error = summary.get("error") or {}
    return PastRun(state=summary.get("status", "running"), kind=error.get("kind"),
                   cause=error.get("cause"), source=summary.get("source"))


def ytdlp_staleness(today: dt.date, version: str | None = None) -> str | None:
    """A warning when the installed yt-dlp is older than :data:`YTDLP_MAX_AGE_DAYS` days."""
    if version is None:
        from yt_dlp.version import __version__ as version
    match = re.match(r"(\d{4})\.(\d{1,2})\.(\d{1,2})", version or "")
    if not match:
        return None
    released = dt.date(int(match[1]), int(match[2]), int(match[3]))
    age = (today - released).days
    if age <= YTDLP_MAX_AGE_DAYS:
        return None
    return (f"yt-dlp {version} is {age} days old and video sites change often: upgrade it "
            "(pip install -U yt-dlp, or build the image with --build-arg YT_DLP_VERSION=…)")


def failure(error: BaseException) -> dict[str, str]:
    """A failed listing as its summary records it."""
    return {"cause": describe(error), "kind": error_kind(error)}


def read_ingest_summary(data: DataPaths, source: str, run_id: str) -> dict[str, Any]:
    path = ingest_summary_path(data, source, run_id)
    return read_json(path) if path.exists() else {}


def ingest_summary_of(settings: Any, source: str, run_id: str) -> dict[str, Any]:
    """The ingest run's summary from the local data folder or, with the data on object
    storage, from the bucket ({} when there is none)."""
    if settings.data_url:
        import json

        from scribeflow.core.objects import open_storage

        key = ingest_summary_path(DataPaths(Path(".")), source, run_id).as_posix()
        raw = open_storage(settings.data_url).read_bytes(key.removeprefix("./"))
        return json.loads(raw) if raw else {}
    return read_ingest_summary(DataPaths(settings.data_dir), source, run_id)


def ingest_note(summary: dict[str, Any] | None, state: str) -> str:
    """A channel run's note in the UI: what its listing found and what became of it
    ("Result: success: 12 listed, 3 triggered, 2 already there, 6 skipped (5 stored,
    1 short), 1 deferred (daily cap)"), or the one-line cause of its failure."""
    from scribeflow.pipeline.summary import NOTE_PREFIX

    summary = summary or {}
    if state == "failed" or summary.get("status") == "failed":
        cause = (summary.get("error") or {}).get("cause") or "a task failed; see its log"
        return one_line(f"{NOTE_PREFIX}failed: {cause}", limit=1000)
    parts = [f"{summary.get('found', 0)} listed"]
    for key, label in (("triggered", "triggered"), ("already_there", "already there")):
        if summary.get(key):
            parts.append(f"{len(summary[key])} {label}")
    for key in ("skipped", "deferred"):
        reasons = summary.get(key) or {}
        if reasons:
            why = ", ".join(f"{n} {reason.replace('_', ' ')}"
                            for reason, n in sorted(reasons.items()))
            parts.append(f"{sum(reasons.values())} {key} ({why})")
    if summary.get("outside_window"):
        parts.append(f"{summary['outside_window']} outside the window")
    return one_line(f"{NOTE_PREFIX}{state}: {', '.join(parts)}", limit=1000)


def write_ingest_summary(data: DataPaths, source: str, run_id: str, /, **fields: Any) -> Path:
    """Merge ``fields`` into the ingest run's summary (atomic, locked)."""
    path = ingest_summary_path(data, source, run_id)
    with locked(path):
        summary = read_json(path) if path.exists() else {"source": source, "run_id": run_id}
        summary.update(fields)
        summary["updated_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        write_json_atomic(path, summary)
    return path
