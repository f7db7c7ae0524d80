"""Video sites: which site a URL belongs to, and whether an answer means we are blocked."""

from __future__ import annotations

import re
from urllib.parse import urlparse

from scribeflow.core.errors import BlockedError, one_line

_ALIASES = {"youtu.be": "youtube.com", "youtube-nocookie.com": "youtube.com"}
#: Answers that mean "not now, not you": a bot check, rate limiting.
_BLOCKED = re.compile(
    r"not a bot|HTTP Error 429|Too Many Requests|rate[- ]?limit|try again later|"
    r"unusual traffic", re.IGNORECASE)


def site_of(url: str) -> str:
    """``youtube.com`` for www/m/music.youtube.com and youtu.be; the host otherwise."""
    host = (urlparse(url).hostname or "").lower()
    host = re.sub(r"^(www|m|music)\.", "", host)
    return _ALIASES.get(host, host) or "local"


def is_youtube(url: str) -> bool:
    return site_of(url) == "youtube.com"


def blocked(cause: str, url: str) -> BlockedError | None:
    """A :class:`BlockedError` when ``cause`` is a site's refusal to serve us for now."""
    if _BLOCKED.search(cause):
        site = site_of(url)
        return BlockedError(f"blocked by {site}: {one_line(cause, 200)}", site=site)
    return None


def download_pool(url: str, pools: str) -> str | None:
    """The pool that bounds downloads from ``url``'s site, from ``SCRIBEFLOW_DOWNLOAD_POOLS``
    (``youtube.com=downloads_youtube,vimeo.com=downloads_vimeo``); None when the site has
    none of its own (the task keeps its default pool)."""
    site = site_of(url)
    for pair in pools.split(","):
        name, _, pool = pair.partition("=")
        if name.strip().lower() == site and pool.strip():
            return pool.strip()
    return None
