"""Deep links that open a video at a moment."""

from __future__ import annotations

from urllib.parse import parse_qsl, quote, urlencode, urlparse, urlunparse

_YOUTUBE_HOSTS = ("youtube.com", "www.youtube.com", "m.youtube.com", "youtu.be")


def deep_link(url: str, start: float) -> str:
    """``url`` opening at ``start`` seconds: YouTube's ``t=Ns``, else a media fragment ``#t=N``."""
    seconds = max(0, int(start))
    parts = urlparse(url)
    if parts.hostname in _YOUTUBE_HOSTS:
        query = [(k, v) for k, v in parse_qsl(parts.query) if k != "t"] + [("t", f"{seconds}s")]
        return urlunparse(parts._replace(query=urlencode(query)))
    return urlunparse(parts._replace(fragment=f"t={seconds}"))


def moment_link(url: str, video_id: str, start: float, root: str) -> str:
    """Where a reader opens ``video_id`` at ``start``: the site's own link at that second
    (``&t=``), or for a local file (which a browser will not open from a page) the player
    page of the app whose root is ``root`` (a prefix relative to the page, ``../../../``)."""
    if urlparse(url).scheme == "file":
        return f"{root}watch/{quote(video_id, safe='')}?t={max(0, int(start))}"
    return deep_link(url, start)


def timestamp(seconds: float, separator: str = ",") -> str:
    """``HH:MM:SS,mmm`` (SRT) or with ``.`` (WebVTT); negative times clamp to zero."""
    total_ms = max(0, round(seconds * 1000))
    hours, rest = divmod(total_ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, ms = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{ms:03d}"


def clock(seconds: float) -> str:
    """``MM:SS`` or ``H:MM:SS``, as YouTube writes chapter times."""
    s = int(seconds)
    hours, rest = divmod(s, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def results_path(video_id: str, run_id: str | None = None) -> str:
    """The page's path under the app's mount (``/scribeflow``), naming the run when known."""
    path = f"videos/{quote(video_id, safe='')}"
    return path + (f"?run={quote(run_id, safe='')}" if run_id else "")


