"""A local site that publishes feeds the way the wild does, for real yt-dlp and real HTTP.

:class:`FeedSite` serves, on 127.0.0.1, media files from a folder and feeds built from
:class:`Upload` lists: a YouTube-style Atom channel feed (``yt:videoId``, ``published``,
``media:group``), a podcast RSS feed with audio enclosures, and a playlist page of embedded
media. Feeds can be paged (RFC 5005 ``rel="next"``), and the site can be told to answer 429
or to demand a cookie. It counts requests per path.
"""

from __future__ import annotations

import datetime as dt
import html
import http.server
import threading
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Upload:
    """One published item: its media file (under the site's folder), title and date."""

    media: str
    title: str
    published: dt.datetime | None
    duration: float | None = None
    short: bool = False


def atom_channel(uploads: list[Upload], base: str, next_url: str | None = None) -> str:
    """A YouTube channel feed's shape, with links to media on this site."""
    entries = []
    for n, up in enumerate(uploads):
        link = "shorts/" + up.media if up.short else up.media
        published = (f"<published>{up.published.isoformat()}</published>"
                     f"<updated>{up.published.isoformat()}</updated>" if up.published else "")
        entries.append(f"""
 <entry>
  <id>yt:video:vid{n:04d}</id>
  <yt:videoId>vid{n:04d}</yt:videoId>
  <yt:channelId>UC_test_channel</yt:channelId>
  <title>{html.escape(up.title)}</title>
  <link rel="alternate" href="{base}/{link}"/>
  <author><name>Test Channel</name></author>
  {published}
  <media:group>
   <media:title>{html.escape(up.title)}</media:title>
   <media:content url="{base}/{up.media}" type="video/mp4" width="640" height="390"/>
   <media:description>About {html.escape(up.title)}</media:description>
   <media:community><media:starRating count="3" average="5.00" min="1" max="5"/></media:community>
  </media:group>
 </entry>""")
    paging = f'<link rel="next" href="{next_url}"/>' if next_url else ""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns:yt="http://www.youtube.com/xml/schemas/2015" xmlns:media="http://search.yahoo.com/mrss/" xmlns="http://www.w3.org/2005/Atom">
 <link rel="self" href="{base}/channel.xml"/>{paging}
 <id>yt:channel:UC_test_channel</id>
 <yt:channelId>UC_test_channel</yt:channelId>
 <title>Test Channel</title>
 <author><name>Test Channel</name></author>{''.join(entries)}
</feed>
"""


def podcast_rss(uploads: list[Upload], base: str, next_url: str | None = None) -> str:
    """A podcast feed as hosts write it: a leading newline before the declaration, HTML
    entities in titles, optional fields missing."""
    items = []
    for up in uploads:
        date = (f"<pubDate>{up.published.strftime('%a, %d %b %Y %H:%M:%S +0000')}</pubDate>"
                if up.published else "")
        duration = (f"<itunes:duration>{int(up.duration // 60)}:{int(up.duration % 60):02d}"
                    f"</itunes:duration>" if up.duration else "")
        title = html.escape(up.title).replace(" - ", " &ndash; ")
        items.append(f"""
  <item>
   <title>{title}</title>
   <guid isPermaLink="false">{up.media}</guid>
   {date}
   <enclosure url="{base}/{up.media}" length="12345" type="audio/mpeg"/>
   {duration}
  </item>""")
    paging = (f'<atom:link rel="next" href="{html.escape(next_url)}"/>' if next_url else "")
    return f"""
<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd" xmlns:atom="http://www.w3.org/2005/Atom">
 <channel>
  <title>The Test&nbsp;Podcast</title>
  <link>{base}/</link>{paging}
  <description>Short lessons.</description>{''.join(items)}
 </channel>
</rss>
"""


def playlist_page(uploads: list[Upload], base: str) -> str:
    videos = "\n".join(f'<video controls src="{base}/{up.media}" title="{html.escape(up.title)}">'
                       "</video>" for up in uploads)
    return (f"<!DOCTYPE html><html><head><title>Lessons playlist</title></head>"
            f"<body><h1>Lessons</h1>\n{videos}\n</body></html>")


@dataclass
class Route:
    """What the site answers at a path: a body builder or a status."""

    body: object = None  # callable(query) -> (str|bytes, content type)
    status: int = 200
    cookie: str | None = None  # answer 403 unless the request sends this cookie


@dataclass
class FeedSite:
    root: Path
    routes: dict[str, Route] = field(default_factory=dict)
    hits: Counter = field(default_factory=Counter)
    cookies_seen: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        site = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=str(site.root), **kwargs)

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                parsed = urllib.parse.urlparse(self.path)
                path = parsed.path.lstrip("/")
                site.hits[path] += 1
                site.cookies_seen.append(self.headers.get("Cookie") or "")
                route = site.routes.get(path)
                if route is None and path.startswith("shorts/"):
                    self.path = "/" + path.removeprefix("shorts/")
                    route = site.routes.get(path.removeprefix("shorts/"))
                if route is not None and route.cookie and route.cookie not in (
                        self.headers.get("Cookie") or ""):
                    return self._send(403, b"forbidden", "text/plain")
                if route is None:
                    try:
                        return super().do_GET()
                    except (ConnectionResetError, BrokenPipeError):
                        return None
                if route.status != 200:
                    return self._send(route.status, b"Too Many Requests" if route.status == 429
                                      else b"error", "text/plain")
                body, ctype = route.body(urllib.parse.parse_qs(parsed.query))
                self._send(200, body.encode() if isinstance(body, str) else body, ctype)

            def _send(self, status: int, body: bytes, ctype: str) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", ctype)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (ConnectionResetError, BrokenPipeError):
                    pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def base(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, path: str) -> str:
        return f"{self.base}/{path}"

    def key(self, feed: str, media: str) -> str:
        """The video id of ``media``'s entry in the podcast feed at ``feed`` (its guid is the
        media's name), as the product computes it."""
        from scribeflow.sources.listing import feed_entry_key

        return feed_entry_key(self.url(feed), media, self.url(media))

    def serve(self, path: str, builder, ctype: str = "application/xml", **options) -> str:
        """Serve ``builder(query)``'s text at ``path``; returns the URL."""
        self.routes[path] = Route(body=lambda query: (builder(query), ctype), **options)
        return self.url(path)

    def feed(self, path: str, uploads: list[Upload], kind: str = "rss", page_size: int = 0,
             **options) -> str:
        """A feed of ``uploads`` (newest first as given), paged by ``?page=N`` when
        ``page_size`` is set. Returns its URL."""
        render = {"rss": podcast_rss, "atom": atom_channel}[kind]
        ctype = {"rss": "application/rss+xml", "atom": "application/atom+xml"}[kind]

        def build(query: dict) -> str:
            if not page_size:
                return render(uploads, self.base)
            page = int(query.get("page", ["0"])[0])
            part = uploads[page * page_size:(page + 1) * page_size]
            more = (page + 1) * page_size < len(uploads)
            return render(part, self.base, f"{self.url(path)}?page={page + 1}" if more else None)

        return self.serve(path, build, ctype, **options)

    def page(self, path: str, uploads: list[Upload]) -> str:
        return self.serve(path, lambda q: playlist_page(uploads, self.base), "text/html")

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
