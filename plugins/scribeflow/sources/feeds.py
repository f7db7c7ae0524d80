"""RSS 2.0 and Atom feeds as the wild serves them, parsed strictly after known-benign repairs.

Repaired: whitespace or a byte-order mark before the XML declaration, HTML named entities
(``&nbsp;``, ``&eacute;``) that XML does not define, dates in RFC 822 or ISO 8601, titles
with markup. Everything else that is not well-formed XML is an error with the parser's line
and column: a truncated feed must not pass as a shorter one, or its missing entries would
silently never be processed. Pages follow RFC 5005 (``<atom:link rel="next">``).
"""

from __future__ import annotations

import datetime as dt
import email.utils
import html
import html.entities
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from urllib.parse import urljoin

from scribeflow.core.errors import BadInputError

NS = {
    "atom": "http://www.w3.org/2005/Atom",
    "yt": "http://www.youtube.com/xml/schemas/2015",
    "media": "http://search.yahoo.com/mrss/",
    "itunes": "http://www.itunes.com/dtds/podcast-1.0.dtd",
    "dc": "http://purl.org/dc/elements/1.1/",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "rss1": "http://purl.org/rss/1.0/",
}
_XML_ENTITIES = {"amp", "lt", "gt", "quot", "apos"}
_ENTITY = re.compile(r"&([A-Za-z][A-Za-z0-9]{1,31});")
_TAG = re.compile(r"<[^>]+>")
MEDIA_EXTENSIONS = (".mp3", ".m4a", ".aac", ".ogg", ".oga", ".opus", ".wav", ".flac", ".mp4",
                    ".m4v", ".mov", ".webm", ".mkv")


@dataclass(frozen=True)
class FeedItem:
    """One feed entry as published: ids and links, not yet decided on."""

    guid: str | None
    title: str
    link: str | None
    #: The media file (an enclosure or media:content), when the entry carries one.
    media_url: str | None
    media_type: str | None
    #: YouTube's own id (``yt:videoId``) in a YouTube channel or playlist feed.
    youtube_id: str | None
    published: dt.datetime | None
    duration: float | None


@dataclass(frozen=True)
class FeedPage:
    title: str
    items: tuple[FeedItem, ...]
    #: The next (older) page, RFC 5005.
    next_url: str | None


def looks_like_feed(body: bytes, content_type: str = "") -> bool:
    """True when ``body`` is an RSS, RDF or Atom document (what sniffing a URL needs)."""
    if any(t in content_type.lower() for t in ("rss", "atom")):
        return True
    head = body[:2048].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    head = re.sub(rb"^<\?xml[^>]*>\s*", b"", head)
    head = re.sub(rb"^(<!--.*?-->\s*|<\?xml-stylesheet[^>]*>\s*)*", b"", head, flags=re.DOTALL)
    return head.startswith((b"<rss", b"<feed", b"<rdf:rdf"))


def parse_feed(body: bytes, url: str) -> FeedPage:
    """The feed's entries, in document order. Raises :class:`BadInputError` with a one-line
    cause for an empty answer, an HTML page, malformed XML or an XML document of another kind."""
    text = _decode(body, url)
    stripped = text.lstrip("\ufeff \t\r\n")
    if not stripped:
        raise BadInputError(f"not a feed: {url} answered with an empty body")
    if re.match(r"<!doctype\s+html|<html[\s>]", stripped, re.IGNORECASE):
        raise BadInputError(f"not a feed: {url} is an HTML page, not RSS or Atom")
    try:
        root = ET.fromstring(_ENTITY.sub(_numeric_entity, stripped))
    except ET.ParseError as exc:
        raise BadInputError(f"malformed feed XML at {url}: {exc}") from None
    tag = _local(root.tag)
    if tag == "rss":
        channel = root.find("channel")
        if channel is None:
            raise BadInputError(f"not a feed: {url} is RSS without a <channel>")
        items = [_rss_item(item, url) for item in channel.findall("item")]
        return FeedPage(title=_text(channel.find("title")), items=tuple(items),
                        next_url=_next_link(channel, url))
    if root.tag == f"{{{NS['atom']}}}feed":
        items = [_atom_entry(entry, url) for entry in root.findall("atom:entry", NS)]
        return FeedPage(title=_text(root.find("atom:title", NS)), items=tuple(items),
                        next_url=_next_link(root, url))
    if tag == "RDF":
        channel = root.find("rss1:channel", NS)
        items = [_rss_item(item, url) for item in root.findall("rss1:item", NS)]
        return FeedPage(title=_text(channel.find("rss1:title", NS)) if channel is not None else "",
                        items=tuple(items), next_url=None)
    raise BadInputError(f"not a feed: {url} is an XML document of another kind (<{tag}>)")


def _decode(body: bytes, url: str) -> str:
    declared = re.match(rb"\s*<\?xml[^>]*encoding=[\"']([A-Za-z0-9._-]+)", body)
    for encoding in ([declared[1].decode()] if declared else []) + ["utf-8", "latin-1"]:
        try:
            text = body.decode(encoding)
        except (UnicodeDecodeError, LookupError):
            continue
        # ElementTree refuses str input with an encoding declaration other than utf-8.
        return re.sub(r"^(\s*<\?xml[^>]*?)\s+encoding=[\"'][^\"']*[\"']", r"\1", text)
    raise BadInputError(f"not a feed: {url} is not text")


def _numeric_entity(match: re.Match) -> str:
    name = match[1]
    if name in _XML_ENTITIES or name not in html.entities.name2codepoint:
        return match[0]
    return f"&#{html.entities.name2codepoint[name]};"


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _text(element: ET.Element | None) -> str:
    if element is None:
        return ""
    text = element.text or "" if len(element) == 0 else "".join(element.itertext())
    if "<" in text or "&" in text:  # markup escaped inside the text (titles with HTML)
        text = html.unescape(_TAG.sub(" ", text))
    return " ".join(text.split())


def _join(base: str, url: str) -> str:
    return url if url.startswith(("http://", "https://")) else urljoin(base, url)


def _next_link(parent: ET.Element, base: str) -> str | None:
    for link in parent.findall("atom:link", NS):
        if link.get("rel") == "next" and link.get("href"):
            return urljoin(base, link.get("href").strip())
    return None


def _rss_item(item: ET.Element, base: str) -> FeedItem:
    link = _text(item.find("link")) or _text(item.find("rss1:link", NS)) or None
    guid = _text(item.find("guid")) or None
    media_url, media_type = None, None
    enclosure = item.find("enclosure")
    content = item.find("media:content", NS)
    for element in (enclosure, content):
        if element is not None and element.get("url"):
            media_url, media_type = _join(base, element.get("url").strip()), element.get("type")
            break
    published = (parse_date(_text(item.find("pubDate"))) or parse_date(_text(item.find("dc:date", NS))))
    duration = parse_duration(_text(item.find("itunes:duration", NS)))
    if duration is None and content is not None:
        duration = parse_duration(content.get("duration") or "")
    return FeedItem(guid=guid, title=_text(item.find("title")) or _text(item.find("rss1:title", NS)),
                    link=_join(base, link) if link else None, media_url=media_url,
                    media_type=media_type, youtube_id=None, published=published,
                    duration=duration)


def _atom_entry(entry: ET.Element, base: str) -> FeedItem:
    link, media_url, media_type = None, None, None
    for element in entry.findall("atom:link", NS):
        rel, href = element.get("rel", "alternate"), (element.get("href") or "").strip()
        if not href:
            continue
        if rel == "alternate" and link is None:
            link = _join(base, href)
        elif rel == "enclosure" and media_url is None:
            media_url, media_type = _join(base, href), element.get("type")
    group = entry.find("media:group", NS)
    title = _text(entry.find("atom:title", NS))
    if not title and group is not None:
        title = _text(group.find("media:title", NS))
    published = (parse_date(_text(entry.find("atom:published", NS)))
                 or parse_date(_text(entry.find("atom:updated", NS))))
    youtube_id = _text(entry.find("yt:videoId", NS)) or None
    content = group.find("media:content", NS) if group is not None else None
    duration = parse_duration((content.get("duration") or "") if content is not None else "")
    return FeedItem(guid=_text(entry.find("atom:id", NS)) or None, title=title, link=link,
                    media_url=media_url, media_type=media_type, youtube_id=youtube_id,
                    published=published, duration=duration)


def parse_date(text: str) -> dt.datetime | None:
    """RFC 822 (RSS) or ISO 8601 (Atom) as an aware UTC datetime; None when absent or unreadable."""
    text = text.strip()
    if not text:
        return None
    try:
        value = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        try:
            value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def parse_duration(text: str) -> float | None:
    """``3723``, ``62:03`` or ``1:02:03`` (itunes:duration, media:content) as seconds."""
    text = text.strip()
    if not text:
        return None
    try:
        parts = [float(p) for p in text.split(":")]
    except ValueError:
        return None
    if len(parts) > 3 or any(p < 0 for p in parts):
        return None
    seconds = 0.0
    for part in parts:
        seconds = seconds * 60 + part
    return seconds
