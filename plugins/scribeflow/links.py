"""Deep links that open a video at a moment."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlparse, urlunparse

_YOUTUBE_HOSTS = ("youtube.com", "www.youtube.com", "m.youtube.com", "youtu.be")


def deep_link(url: str, start: float) -> str:
    """``url`` opening at ``start`` seconds: YouTube's ``t=Ns``, else a media fragment ``#t=N``."""
    seconds = max(0, int(start))
    parts = urlparse(url)
    if parts.hostname in _YOUTUBE_HOSTS:
        query = [(k, v) for k, v in parse_qsl(parts.query) if k != "t"] + [("t", f"{seconds}s")]
        return urlunparse(parts._replace(query=urlencode(query)))
    return urlunparse(parts._replace(fragment=f"t={seconds}"))
