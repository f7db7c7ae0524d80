"""The digest of what the channels said: the videos stored in a period, per source and
overall, with their dates, abstracts and key moments linked to the second they are about,
as Markdown, HTML and Atom feeds.

A digest is made for a period: from the end of the last one (the periods are kept in
``digests/periods.json``) to its run's time. Re-running a digest run gives its period again,
and the same period gives the same files, byte for byte: nothing in them reads the clock.

Layout under the data folder::

    digests/periods.json                        each digest run's period, in order
    digests/<period>/digest.md .html .atom      every source's videos of the period
    digests/<period>/<source>.md .html .atom    one source's
    digests/feed.atom, digests/feed-<source>.atom  the latest period's feeds (to subscribe to)
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from scribeflow.core.config import PipelineSettings
from scribeflow.core.errors import BadInputError
from scribeflow.core.files import (
    DataPaths,
    locked,
    read_json,
    safe_name,
    write_bytes_atomic,
    write_json_atomic,
    write_text_atomic,
)
from scribeflow.core.links import clock, moment_link
from scribeflow.library.feed import FeedEntry, atom_feed
from scribeflow.library.stored import iso, parse_time, read_stored
from scribeflow.writing.overview import escape, iso_date
from scribeflow.writing.summarize import read_summary

log = logging.getLogger(__name__)
#: Videos of no channel source (runs of one's own) are listed under this heading.
OWN_RUNS = "Your own runs"
#: The most recent videos a feed holds.
FEED_ENTRIES = 50
#: Where the app serves the digests (the Airflow plugin mounts the app at ``/scribeflow``).
APP_DIGESTS = "/scribeflow/digests/"


@dataclass(frozen=True)
class Moment:
    start: float
    point: str
    url: str


@dataclass(frozen=True)
class Entry:
    """One stored video in a digest."""

    video_id: str
    title: str
    group: str
    stored_at: str
    #: The results page of the video, and the video itself (its site, or the player).
    page: str
    url: str
    channel: str | None = None
    upload_date: str | None = None
    abstract: str = ""
    moments: tuple[Moment, ...] = ()
    #: Why the video has no abstract (``failed: …``, ``no LLM configured``), or None.
    missing: str | None = None


@dataclass(frozen=True)
class Period:
    """``(start, end]`` in UTC; ``start`` None: since the first video."""

    end: str
    start: str | None = None

    @property
    def name(self) -> str:
        """The period's folder: its end, ``2026-12-06T01-30-00Z``."""
        return self.end.replace(":", "-")

    def label(self) -> str:
        end = parse_time(self.end).strftime("%Y-%m-%d %H:%M UTC")
        if self.start is None:
            return f"until {end}"
        return f"{parse_time(self.start).strftime('%Y-%m-%d %H:%M UTC')} to {end}"

    def holds(self, moment: dt.datetime) -> bool:
        return ((self.start is None or moment > parse_time(self.start))
                and moment <= parse_time(self.end))


@dataclass(frozen=True)
class DigestWritten:
    period: Period
    videos: int
    sources: tuple[str, ...] = ()
    files: tuple[str, ...] = ()
    #: Videos listed without an abstract, with why.
    without_summary: tuple[str, ...] = ()
    #: Why the run wrote nothing (no new video since the last digest, a late run).
    skipped: str | None = None


def source_slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "source"


def library_entries(data: DataPaths, base_url: str) -> list[Entry]:
    """Every stored video (that has ``stored.json``), oldest first. ``base_url``: the app's
    root (``http://host:8080/scribeflow``), which the links start with."""
    base = base_url.rstrip("/") + "/"
    entries = []
    for path in sorted((data.root / "videos").glob("*/stored.json")):
        video = data.video(path.parent.name)
        stored = read_stored(path)
        if stored is None or not video.metadata.exists():
            continue
        meta = read_json(video.metadata)
        summary = read_summary(video.summary)
        url = meta.get("webpage_url") or ""

        def link(start: float, url: str = url, video_id: str = stored.video_id) -> str:
            return moment_link(url, video_id, start, base)

        entries.append(Entry(
            video_id=stored.video_id, title=meta.get("title") or stored.video_id,
            group=stored.source or meta.get("channel") or OWN_RUNS, stored_at=stored.stored_at,
            page=f"{base}videos/{quote(stored.video_id, safe='')}", url=link(0),
            channel=meta.get("channel"), upload_date=meta.get("upload_date"),
            abstract=summary.abstract if summary.ok else "",
            moments=tuple(Moment(m.start, m.point, link(m.start)) for m in summary.key_moments)
            if summary.ok else (),
            missing=None if summary.ok else summary.missing))
    return sorted(entries, key=lambda e: (parse_time(e.stored_at), e.video_id))


def in_period(entries: Sequence[Entry], period: Period) -> list[Entry]:
    return [e for e in entries if period.holds(parse_time(e.stored_at))]


def digest_markdown(title: str, period: Period, entries: Sequence[Entry],
                    grouped: bool = True) -> str:
    """The digest: the period, then each source's videos (or one list)."""
    lines = [f"# {escape(title)}", "", f"Videos stored {period.label()}: {len(entries)}."]
    if not entries:
        lines += ["", "*No videos were stored in this period.*"]
    groups = sorted({e.group for e in entries}, key=lambda g: (g == OWN_RUNS, g.lower()))
    for group in groups if grouped else [None]:
        mine = [e for e in entries if group is None or e.group == group]
        if group is not None:
            lines += ["", f"## {escape(group)}"]
        for entry in mine:
            lines += ["", *_entry_markdown(entry, "###" if group is not None else "##")]
    return "\n".join(lines) + "\n"


def _entry_markdown(entry: Entry, level: str) -> list[str]:
    facts = [f"[watch]({entry.url})", f"[transcript and documents]({entry.page})"]
    if entry.upload_date:
        facts.insert(0, f"published {iso_date(entry.upload_date)}")
    if entry.channel:
        facts.insert(0, escape(entry.channel))
    lines = [f"{level} [{escape(entry.title)}]({entry.page})", "", " · ".join(facts), ""]
    if entry.missing:
        lines.append(f"*No abstract: {escape(entry.missing)}.*")
        return lines
    lines.append(escape(entry.abstract))
    if entry.moments:
        lines.append("")
        lines += [f"- [{clock(m.start)}]({m.url}) {escape(m.point)}" for m in entry.moments]
    return lines


def digest_page(title: str, markdown: str, feed: str) -> str:
    import markupsafe

    from scribeflow.writing.render import markdown_html, template

    return template("digest.html.j2").render(title=title, feed=feed,
                                             body=markupsafe.Markup(markdown_html(markdown)))


def feed_entries(entries: Sequence[Entry]) -> list[FeedEntry]:
    """The newest :data:`FEED_ENTRIES` of ``entries``, newest first."""
    from scribeflow.writing.render import markdown_html

    newest = sorted(entries, key=lambda e: (parse_time(e.stored_at), e.video_id),
                    reverse=True)[:FEED_ENTRIES]
    return [FeedEntry(
        id=f"tag:scribeflow,2024:video/{quote(e.video_id, safe='')}", title=e.title,
        link=e.page, updated=e.stored_at,
        summary=e.abstract or f"No abstract: {e.missing}.",
        content_html=markdown_html("\n".join(_entry_markdown(e, "##")[2:])),
        author=e.channel, category=e.group) for e in newest]


def write_period(data: DataPaths, period: Period, base_url: str,
                 everything: list[Entry] | None = None) -> DigestWritten:
    """The period's digest files (overall and per source) and, when it is the latest period,
    the feeds to subscribe to. The same period gives the same files. ``everything``: the
    library's entries when the caller has read them already."""
    everything = library_entries(data, base_url) if everything is None else everything
    entries = in_period(everything, period)
    until = [e for e in everything if parse_time(e.stored_at) <= parse_time(period.end)]
    folder = data.root / "digests" / period.name
    base = base_url.rstrip("/")
    latest = _latest(data) in (None, period.end)
    files = []
    groups = sorted({e.group for e in entries})
    for name, title, mine, history in (
            [("digest", "What your channels said", entries, until)] +
            [(source_slug(g), g, [e for e in entries if e.group == g],
              [e for e in until if e.group == g]) for g in groups]):
        subscribed = "feed" if name == "digest" else f"feed-{name}"
        feed_url = f"{base}/digests/{subscribed}.atom"
        markdown = digest_markdown(title, period, mine, grouped=name == "digest")
        write_text_atomic(folder / f"{name}.md", markdown)
        write_text_atomic(folder / f"{name}.html", digest_page(title, markdown, feed_url))
        feed = atom_feed(f"tag:scribeflow,2024:digest/{name}", f"Scribeflow: {title}",
                         period.end, feed_url, f"{base}/digests/{period.name}/{name}.html",
                         feed_entries(history))
        write_bytes_atomic(folder / f"{name}.atom", feed)
        if latest:
            write_bytes_atomic(data.root / "digests" / f"{subscribed}.atom", feed)
        files += [str(folder / f"{name}.{kind}") for kind in ("md", "html", "atom")]
    missing = tuple(f"{e.title}: {e.missing}" for e in entries if e.missing)
    return DigestWritten(period=period, videos=len(entries), sources=tuple(groups),
                         files=tuple(files), without_summary=missing)


def _periods_path(data: DataPaths) -> Path:
    return data.root / "digests" / "periods.json"


def periods(data: DataPaths) -> list[dict]:
    """Every digest run's period, in order: ``{"run_id", "start", "end"}``."""
    path = _periods_path(data)
    return read_json(path)["periods"] if path.exists() else []


def _latest(data: DataPaths) -> str | None:
    known = periods(data)
    return max((p["end"] for p in known), default=None)


def write_digest(data: DataPaths, run_id: str, until: dt.datetime, base_url: str,
                 scheduled: bool = True) -> DigestWritten:
    """The digest of ``run_id``: its period (recorded the first time: from the last digest's
    end to ``until``; a re-run gives the same period) and its files. A run triggered by new
    videos (not ``scheduled``) that finds none since the last digest writes nothing, and so
    does a run whose time is not after the last digest's end (a late scheduled run)."""
    path = _periods_path(data)
    everything = None  # read once, when the run needs it before the files
    with locked(path):
        known = periods(data)
        mine = next((p for p in known if p["run_id"] == run_id), None)
        if mine is None:
            start = max((p["end"] for p in known), default=None)
            period = Period(end=iso(until), start=start)
            why = None
            if start is not None and parse_time(start) >= until:  # a late run of a past time
                why = f"its time {period.end} is not after the last digest's end {start}"
            elif not scheduled and not in_period(
                    everything := library_entries(data, base_url), period):
                why = f"no video was stored since the last digest ({start or 'none yet'})"
            if why is not None:
                log.info("digest skipped: %s", why)
                return _recorded(data, run_id, DigestWritten(period=period, videos=0,
                                                             skipped=why))
            known.append({"run_id": run_id, "start": period.start, "end": period.end})
            write_json_atomic(path, {"periods": known})
        else:
            period = Period(end=mine["end"], start=mine["start"])
    written = write_period(data, period, base_url, everything)
    log.info("digest %s: %d videos from %d sources (%d without an abstract)", period.label(),
             written.videos, len(written.sources), len(written.without_summary))
    return _recorded(data, run_id, written)


def _run_record(data: DataPaths, run_id: str) -> Path:
    return data.root / "digests" / "runs" / f"{safe_name(run_id)}.json"


def _recorded(data: DataPaths, run_id: str, written: DigestWritten) -> DigestWritten:
    """What the run did, for its note (:func:`digest_note`)."""
    write_json_atomic(_run_record(data, run_id), {
        "period": {"start": written.period.start, "end": written.period.end},
        "videos": written.videos, "sources": list(written.sources),
        "without_summary": list(written.without_summary), "skipped": written.skipped})
    return written


def digest_note(data: DataPaths, run_id: str, state: str) -> str:
    """A digest run's note: its period and what it lists, or why it wrote nothing."""
    path = _run_record(data, run_id)
    if state != "success" or not path.exists():
        return f"Result: {state}" + ("" if path.exists() else ": no digest written")
    record = read_json(path)
    if record["skipped"]:
        return f"Result: nothing new: {record['skipped']}"
    period = Period(end=record["period"]["end"], start=record["period"]["start"])
    missing = len(record["without_summary"])
    return (f"Result: {record['videos']} videos stored {period.label()}, from "
            f"{len(record['sources'])} sources" + (f"; {missing} without an abstract"
                                                   if missing else "")
            + f"\nDigest: [{APP_DIGESTS}{period.name}/digest.html]"
              f"({APP_DIGESTS}{period.name}/digest.html)")


def write_library_digest(settings: PipelineSettings, run_id: str, until: dt.datetime,
                         base_url: str, scheduled: bool = True) -> DigestWritten:
    """:func:`write_digest` on the data folder, wherever it is: with the data on object
    storage, on a scratch copy holding the digests and each video's small records, whose new
    files are published to the bucket."""
    from scribeflow.core.objects import checkout, open_storage, publish, working_copy

    with working_copy(settings, label="digest") as data:
        if not settings.data_url:
            return write_digest(data, run_id, until, base_url, scheduled)
        storage = open_storage(settings.data_url)
        before = checkout(storage, "digests", data.root / "digests")
        records = [rel for rel in storage.files("videos")
                   if rel.rsplit("/", 1)[-1] in ("stored.json", "metadata.json", "summary.json")]
        storage.download_many([(rel, data.root / rel) for rel in records])
        written = write_digest(data, run_id, until, base_url, scheduled)
        publish(storage, data.root / "digests", "digests", before)
        return written


def window_digest(data: DataPaths, since: dt.datetime | None, until: dt.datetime,
                  base_url: str) -> tuple[Period, str]:
    """The overall digest's Markdown for any window (``scribeflow digest``), not recorded as
    a period; raises :class:`BadInputError` for a window that ends before it starts."""
    if since is not None and since >= until:
        raise BadInputError(f"the window starts at {iso(since)}, not before its end "
                            f"{iso(until)}")
    period = Period(end=iso(until), start=iso(since) if since else None)
    entries = in_period(library_entries(data, base_url), period)
    return period, digest_markdown("What your channels said", period, entries)
