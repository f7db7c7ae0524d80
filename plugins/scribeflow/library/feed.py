"""Atom feeds (RFC 4287) of the library's videos, for a feed reader to subscribe to.

Written with ElementTree, so every text a video or a model gave is escaped; the same entries
give the same bytes (no clock is read: ``updated`` is the digest period's end).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass

ATOM = "http://www.w3.org/2005/Atom"


@dataclass(frozen=True)
class FeedEntry:
    #: A permanent id (``tag:`` URI) of the video.
    id: str
    title: str
    #: Where the entry's link goes (the video's results page).
    link: str
    #: When the video was stored (RFC 3339).
    updated: str
    #: The entry's text (the abstract, or why there is none) and its HTML content.
    summary: str
    content_html: str
    author: str | None = None
    category: str | None = None


def atom_feed(feed_id: str, title: str, updated: str, self_url: str, page_url: str,
              entries: Sequence[FeedEntry]) -> bytes:
    """An Atom feed document (UTF-8, with its XML declaration)."""
    ET.register_namespace("", ATOM)
    feed = ET.Element(f"{{{ATOM}}}feed")
    _text(feed, "id", feed_id)
    _text(feed, "title", title)
    _text(feed, "updated", updated)
    _link(feed, self_url, "self", "application/atom+xml")
    _link(feed, page_url, "alternate", "text/html")
    author = ET.SubElement(feed, f"{{{ATOM}}}author")
    _text(author, "name", "Scribeflow")
    _text(feed, "generator", "Scribeflow")
    for item in entries:
        entry = ET.SubElement(feed, f"{{{ATOM}}}entry")
        _text(entry, "id", item.id)
        _text(entry, "title", item.title)
        _text(entry, "updated", item.updated)
        _link(entry, item.link, "alternate", "text/html")
        if item.author:
            _text(ET.SubElement(entry, f"{{{ATOM}}}author"), "name", item.author)
        if item.category:
            ET.SubElement(entry, f"{{{ATOM}}}category", term=item.category)
        _text(entry, "summary", item.summary)
        content = _text(entry, "content", item.content_html)
        content.set("type", "html")
    ET.indent(feed)
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True) + b"\n"


def _text(parent: ET.Element, tag: str, text: str) -> ET.Element:
    element = ET.SubElement(parent, f"{{{ATOM}}}{tag}")
    element.text = text
    return element


def _link(parent: ET.Element, href: str, rel: str, kind: str) -> None:
    ET.SubElement(parent, f"{{{ATOM}}}link", href=href, rel=rel, type=kind)
