"""List what a source has published: RSS/Atom feeds (parsed here) and anything yt-dlp can list
(YouTube channels, ``@handles`` and playlists, pages with embedded media).

Every request goes through one yt-dlp HTTP stack (cookies, proxy, user agent), counted and
throttled: before each request but the first it sleeps a time drawn uniformly from the
source's range. Listing is lazy and stops early: a feed stops paging once a page reaches past
the window (in a newest-first feed, once its oldest entry is older), yt-dlp listings once :data:`STOP_AFTER_OLD` dated entries in a row are,
so a one-week backfill does not read a channel's whole history.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import re
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from scribeflow.core.errors import BadInputError, ScribeflowError, one_line
from scribeflow.core.files import safe_name
from scribeflow.sources import feeds
from scribeflow.sources.download import ytdlp_cause
from scribeflow.sources.sites import blocked, is_youtube

log = logging.getLogger(__name__)

#: A listing in newest-first order stops after this many dated entries in a row older than
#: the window (a pinned or re-ordered entry or two does not end it).
STOP_AFTER_OLD = 5
_YOUTUBE_CHANNEL = re.compile(
    r"^(https?://(?:www\.|m\.)?youtube\.com/(?:@[^/?#]+|channel/[^/?#]+|c/[^/?#]+|user/[^/?#]+))"
    r"/?(?:[?#].*)?$", re.IGNORECASE)


@dataclass(frozen=True)
class Entry:
    """One upload of a source, as listed."""

    #: The video id Scribeflow gives it once downloaded (``youtube-<id>``, ``generic-<name>``).
    key: str
    url: str
    title: str
    published: dt.datetime | None
    duration: float | None = None
    #: yt-dlp's ``live_status``: ``is_live``, ``is_upcoming``, ``was_live``, ``not_live``, …
    live_status: str | None = None
    #: yt-dlp's ``availability``: ``public``, ``private``, ``subscriber_only``, ``needs_auth``, …
    availability: str | None = None
    is_short: bool = False
    #: When a premiere or stream starts, if it is scheduled.
    release: dt.datetime | None = None
    #: ``published`` is an estimate ("3 weeks ago"): resolve the entry before deciding on it.
    approximate: bool = False
    #: Why the entry cannot be processed (no media link, extraction failed), if so.
    problem: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("published", "release"):
            data[key] = data[key].isoformat() if data[key] else None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Entry:
        values = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        for key in ("published", "release"):
            if values.get(key):
                values[key] = dt.datetime.fromisoformat(values[key])
        return cls(**values)


def generic_key(url: str) -> str:
    """The id yt-dlp's generic extractor gives a direct media URL, as Scribeflow stores it
    (``generic-<file name without extension>``; yt-dlp's ``InfoExtractor._generic_id``)."""
    import os

    path = urllib.parse.unquote(os.path.splitext(url.rstrip("/").split("/")[-1])[0])
    return f"generic-{safe_name(path)}"


def feed_entry_key(feed_url: str, guid: str | None, media_url: str) -> str:
    """The video id of a feed entry that is not a YouTube video: its media file's name (to
    read) and a hash of what identifies the entry, its feed and ``guid`` as podcast apps key
    episodes, or its media URL when it has no guid. Two feeds' ``episode1.mp3`` get two ids;
    the same entry listed again gets the same one."""
    import hashlib

    identity = f"{feed_url}\x1f{guid}" if guid else media_url
    return f"{generic_key(media_url)}-{hashlib.sha256(identity.encode()).hexdigest()[:10]}"


def youtube_key(video_id: str) -> str:
    return f"youtube-{safe_name(video_id)}"


def youtube_tabs(url: str, include_shorts: bool) -> list[str] | None:
    """A channel root lists as its tabs: ``/videos`` (and ``/shorts`` when shorts are wanted)."""
    match = _YOUTUBE_CHANNEL.match(url.strip())
    if not match:
        return None
    return [f"{match[1]}/videos"] + ([f"{match[1]}/shorts"] if include_shorts else [])


class Throttle:
    """Sleep a uniformly drawn time in ``[low, high]`` before every call but the first."""

    def __init__(self, low: float = 0.0, high: float = 0.0, *, rng: random.Random | None = None,
                 sleep: Callable[[float], None] = time.sleep):
        self.low, self.high = low, high
        self._rng = rng or random.Random()
        self._sleep = sleep
        self._calls = 0
        self.slept = 0.0

    def wait(self) -> None:
        self._calls += 1
        if self._calls == 1 or self.high <= 0:
            return
        seconds = self._rng.uniform(self.low, self.high)
        self.slept += seconds
        self._sleep(seconds)


class Lister:
    """Lists sources' entries; ``requests`` counts the HTTP requests it made."""

    def __init__(self, *, cookiefile: Path | None = None, throttle: Throttle | None = None,
                 timeout: float = 30.0):
        self.cookiefile = cookiefile
        self.throttle = throttle or Throttle()
        self.timeout = timeout
        self.requests = 0
        self._ydl: Any = None

    # -- the HTTP stack -------------------------------------------------------------------
    def ydl(self) -> Any:
        if self._ydl is None:
            import yt_dlp

            lister = self

            class CountingYoutubeDL(yt_dlp.YoutubeDL):
                def urlopen(self, req: Any) -> Any:
                    lister.throttle.wait()
                    lister.requests += 1
                    return super().urlopen(req)

            options: dict[str, Any] = {
                "quiet": True, "no_warnings": True, "noprogress": True, "skip_download": True,
                "extract_flat": "in_playlist", "lazy_playlist": True,
                "socket_timeout": self.timeout, "logger": _QuietLog(),
                "extractor_args": {"youtubetab": {"approximate_date": [""]}},
            }
            if self.cookiefile:
                options["cookiefile"] = str(self.cookiefile)
            self._ydl = CountingYoutubeDL(options)
        return self._ydl

    def close(self) -> None:
        if self._ydl is not None:
            self._ydl.close()
            self._ydl = None

    def fetch(self, url: str) -> tuple[bytes, str]:
        """The body and content type at ``url``; failures as one-line errors (a 429 is a block)."""
        from yt_dlp.networking.exceptions import HTTPError, RequestError

        try:
            with self.ydl().urlopen(url) as response:
                return response.read(), response.headers.get("Content-Type", "")
        except HTTPError as exc:
            cause = f"HTTP Error {exc.status}: {exc.reason}"
            if (error := blocked(cause, url)) is not None:
                raise error from None
            if exc.status in (404, 410):
                raise BadInputError(f"feed not found: {url} answered {cause}") from None
            if exc.status in (401, 403):
                raise BadInputError(f"access denied to {url}: {cause} (does the source need "
                                    "cookies?)") from None
            raise ScribeflowError(f"cannot list {url}: {cause}") from None
        except RequestError as exc:
            raise ScribeflowError(f"cannot reach {url}: {one_line(exc.msg or exc, 200)}") from None

    # -- listing ----------------------------------------------------------------------------
    def entries(self, url: str, kind: str = "auto", *, since: dt.datetime | None = None,
                include_shorts: bool = False) -> Iterator[Entry]:
        """The source's entries in listing order (newest first for channels and most feeds),
        stopping early once they are older than ``since``."""
        if kind == "playlist" or (kind == "auto" and is_youtube(url)
                                  and "/feeds/videos.xml" not in url):
            yield from self._playlist_entries(url, since, include_shorts)
            return
        body, content_type = self.fetch(url)
        if kind == "auto" and not feeds.looks_like_feed(body, content_type):
            alternate = _feed_link(body, url)
            if alternate:
                log.info("%s announces the feed %s; listing that", url, alternate)
                yield from self._feed_entries(alternate, since, None)
                return
            yield from self._playlist_entries(url, since, include_shorts, page_type=content_type)
            return
        yield from self._feed_entries(url, since, (body, content_type))

    def _feed_entries(self, url: str, since: dt.datetime | None,
                      first: tuple[bytes, str] | None) -> Iterator[Entry]:
        seen: set[str] = set()
        page_url: str | None = url
        while page_url and page_url not in seen:
            seen.add(page_url)
            body, _ = first if first is not None else self.fetch(page_url)
            first = None
            page = feeds.parse_feed(body, page_url)
            for item in page.items:
                yield _feed_entry(item, url)
            dated = [item.published for item in page.items if item.published]
            if since is not None and dated:
                newest_first = all(a >= b for a, b in zip(dated, dated[1:], strict=False))
                # In a newest-first feed the next page is older than this page's oldest entry.
                if (min(dated) if newest_first else max(dated)) < since:
                    break
            page_url = page.next_url

    def _playlist_entries(self, url: str, since: dt.datetime | None, include_shorts: bool,
                          page_type: str | None = None) -> Iterator[Entry]:
        import yt_dlp

        for list_url in youtube_tabs(url, include_shorts) or [url]:
            try:
                info = self.ydl().extract_info(list_url, download=False, process=False)
            except yt_dlp.utils.DownloadError as exc:
                cause = ytdlp_cause(exc)
                if (error := blocked(cause, list_url)) is not None:
                    raise error from None
                if page_type is not None:
                    raise BadInputError(f"no feed or playlist at {url}: it is not RSS or Atom "
                                        f"({page_type or 'no content type'}) and yt-dlp found "
                                        f"no videos in it ({cause})") from None
                raise BadInputError(f"cannot list {url}: {cause}") from None
            if info is None or info.get("_type") not in ("playlist", "multi_video"):
                raise BadInputError(f"{url} is a single video, not a channel, playlist or feed: "
                                    "process it with `scribeflow run`")
            older = 0
            for raw in info.get("entries") or []:
                if not isinstance(raw, dict):
                    continue
                entry = _ytdlp_entry(raw)
                yield entry
                if since is not None and entry.published is not None:
                    # An estimate is never earlier than the truth ("3 weeks ago" is 3 to 4).
                    older = older + 1 if entry.published < since else 0
                    if older >= STOP_AFTER_OLD:
                        break

    def resolve(self, entry: Entry) -> Entry:
        """The entry with its exact date, duration, live status and availability (one full
        extraction); a refusal is recorded as the entry's availability or problem."""
        import yt_dlp

        try:
            info = self.ydl().extract_info(entry.url, download=False, process=False)
        except yt_dlp.utils.DownloadError as exc:
            cause = ytdlp_cause(exc)
            if (error := blocked(cause, entry.url)) is not None:
                raise error from None
            lowered = cause.lower()
            if "private video" in lowered:
                return replace(entry, availability="private", approximate=False)
            if "members" in lowered or "join this channel" in lowered:
                return replace(entry, availability="subscriber_only", approximate=False)
            if "premiere" in lowered or "live event will begin" in lowered:
                return replace(entry, live_status="is_upcoming", approximate=False)
            return replace(entry, problem=f"cannot read it: {cause}", approximate=False)
        detail = _ytdlp_entry(info)
        return replace(
            entry, published=detail.published or entry.published,
            duration=detail.duration or entry.duration,
            live_status=detail.live_status or entry.live_status,
            availability=detail.availability or entry.availability,
            is_short=entry.is_short or detail.is_short,
            release=detail.release or entry.release, approximate=False,
        )


def _feed_link(body: bytes, url: str) -> str | None:
    """An HTML page's announced RSS/Atom feed (``<link rel="alternate" type="…rss+xml">``)."""
    text = body[:200_000].decode("utf-8", errors="replace")
    for tag in re.findall(r"<link\b[^>]*>", text, re.IGNORECASE):
        if (re.search(r"rel=[\"']?alternate", tag, re.IGNORECASE)
                and re.search(r"type=[\"']?application/(rss|atom)\+xml", tag, re.IGNORECASE)):
            href = re.search(r"href=[\"']([^\"']+)", tag, re.IGNORECASE)
            if href:
                return urllib.parse.urljoin(url, href[1])
    return None


def _feed_entry(item: feeds.FeedItem, feed_url: str) -> Entry:
    if item.youtube_id and (item.link is None or is_youtube(item.link)):
        url = f"https://www.youtube.com/watch?v={item.youtube_id}"
        return Entry(key=youtube_key(item.youtube_id), url=url, title=item.title,
                     published=item.published, duration=item.duration,
                     is_short="/shorts/" in (item.link or ""))
    url = item.media_url or item.link
    if not url:
        return Entry(key=f"generic-{safe_name(item.guid or item.title)}", url="",
                     title=item.title, published=item.published,
                     problem="the entry has no link or media file")
    return Entry(key=feed_entry_key(feed_url, item.guid, url), url=url, title=item.title,
                 published=item.published, duration=item.duration,
                 is_short="/shorts/" in (item.link or ""))


def _ytdlp_entry(raw: dict[str, Any]) -> Entry:
    url = raw.get("url") if raw.get("_type") in ("url", "url_transparent") else None
    url = url or raw.get("webpage_url") or raw.get("original_url")
    formats = raw.get("formats") or []
    if not url and formats:
        url = formats[-1].get("url")  # a page's embedded media file
    url = str(url or "")
    extractor = str(raw.get("ie_key") or raw.get("extractor_key") or "").lower()
    if extractor == "youtube" and raw.get("id"):
        key = youtube_key(str(raw["id"]))
    elif extractor and extractor not in ("generic", "html5mediaembed") and raw.get("id"):
        key = f"{safe_name(extractor)}-{safe_name(str(raw['id']))}"
    else:
        key = generic_key(url) if url else f"generic-{safe_name(str(raw.get('id') or 'entry'))}"
    published = _when(raw.get("timestamp")) or _day(raw.get("upload_date"))
    approximate = raw.get("_type") == "url" and extractor == "youtube" and published is not None
    return Entry(
        key=key, url=url, title=str(raw.get("title") or raw.get("id") or url),
        published=published, duration=_number(raw.get("duration")),
        live_status=raw.get("live_status"), availability=raw.get("availability"),
        is_short="/shorts/" in url or raw.get("media_type") == "short",
        release=_when(raw.get("release_timestamp")), approximate=approximate,
        problem=None if url else "yt-dlp listed it without a URL",
    )


def _when(timestamp: Any) -> dt.datetime | None:
    try:
        return dt.datetime.fromtimestamp(float(timestamp), dt.UTC) if timestamp else None
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def _day(value: Any) -> dt.datetime | None:
    if isinstance(value, str) and re.fullmatch(r"\d{8}", value):
        return dt.datetime(int(value[:4]), int(value[4:6]), int(value[6:]), tzinfo=dt.UTC)
    return None


def _number(value: Any) -> float | None:
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


class _QuietLog:
    def debug(self, msg: str) -> None:
        pass

    def info(self, msg: str) -> None:
        pass

    def warning(self, msg: str) -> None:
        log.debug(msg)

    def error(self, msg: str) -> None:
        log.debug(msg)
