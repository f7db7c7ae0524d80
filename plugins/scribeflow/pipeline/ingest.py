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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scribeflow.core.errors import BlockedError, ScribeflowError
from scribeflow.core.files import (
    DataPaths,
    locked,
)
from scribeflow.pipeline.ingest_records import (
    Backoff,
    PastRun,
    SourceState,
    active_backoff,
    record_block,
    state_path,
    video_run_id,
)
from scribeflow.sources.catalog import Source
from scribeflow.sources.listing import Entry, Lister
from scribeflow.sources.sites import site_of

log = logging.getLogger(__name__)

YTDLP_MAX_AGE_DAYS = 90


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


def list_source(source: Source, window: Window, data: DataPaths, run_id: str, *,
                cookies: str | None, cookies_label: str,
                past_run: Callable[[str], PastRun | None], stored: Callable[[str], bool],
                now: dt.datetime | None = None, dry_run: bool = False,
                max_per_run: int | None = None, status: str = "triggering") -> IngestPlan:
    """A channel run's listing, the same for ``scribeflow ingest`` and the channel DAGs: the
    source listed with its cookies and request pace, decided on (:func:`ingest_source`), and
    the channel run's summary written (``status`` and what the listing found, or ``failed``
    with the cause). A dry run writes nothing."""
    from scribeflow.pipeline.ingest_records import failure, write_ingest_summary
    from scribeflow.sources.cookies import cookie_file
    from scribeflow.sources.listing import Throttle

    with cookie_file(cookies, cookies_label) as cookiefile:
        lister = Lister(cookiefile=cookiefile, throttle=Throttle(*source.request_sleep))
        try:
            plan = ingest_source(source, window, data, lister=lister, past_run=past_run,
                                 stored=stored, now=now, dry_run=dry_run,
                                 max_per_run=max_per_run)
        except Exception as exc:
            if not dry_run:
                write_ingest_summary(data, source.name, run_id, url=source.url,
                                     status="failed", error=failure(exc))
            raise
        finally:
            lister.close()
    if not dry_run:
        write_ingest_summary(data, source.name, run_id, url=source.url, status=status,
                             **plan.summary(), warnings=list(plan.warnings))
    return plan


def entry_conf(source: Source, entry: Entry) -> dict[str, Any]:
    """The ``video_pipeline`` conf of one listed entry: the source's params, its URL, and the
    id the listing gave it (so the video is stored under the key ingestion looks up)."""
    return source.run_conf() | {"url": entry.url, "video_id": entry.key}


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
