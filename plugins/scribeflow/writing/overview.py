"""The document's opening, in the order a reader wants it: the title, the video's facts
(source, channel, date, duration, language, quality score), the summary with its key moments,
then the chapter list, each chapter linked to its heading and to its moment in the video.

Headings get GitHub's anchors (:func:`heading_ids`): the Markdown's chapter links work on
GitHub and in the HTML, whose headings take the same ids (:mod:`scribeflow.writing.render`).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from scribeflow.core.languages import language_name
from scribeflow.core.links import clock
from scribeflow.writing.chapters import Chapter
from scribeflow.writing.summarize import VideoSummary

#: Opens the video at a second: ``(seconds) -> URL``.
MomentLink = Callable[[float], str]
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$", re.M)
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>|])")


def slug(text: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = unicodedata.normalize("NFKC", text).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def unique_slug(text: str, seen: dict[str, int]) -> str:
    """:func:`slug`, with ``-1``, ``-2`` … after a repeat (``seen`` counts them)."""
    base = slug(text)
    count = seen.get(base, 0)
    seen[base] = count + 1
    return base if count == 0 else f"{base}-{count}"


def heading_ids(markdown: str) -> list[tuple[int, str, str]]:
    """Each heading's level, text and anchor, in document order."""
    seen: dict[str, int] = {}
    return [(len(m[1]), m[2], unique_slug(m[2], seen)) for m in _HEADING.finditer(markdown)]


def escape(text: str) -> str:
    """``text`` shown as itself in Markdown (a title with ``*`` or ``[`` in it)."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(text.split()))


@dataclass(frozen=True)
class Facts:
    """Where the video came from, as ``metadata.json`` and the transcript say."""

    source: str
    #: The page or file it came from (a player link for a local file).
    source_link: str
    channel: str | None = None
    upload_date: str | None = None
    duration: float | None = None
    language: str | None = None
    quality: int | None = None

    @classmethod
    def of(cls, meta: dict[str, Any], link: MomentLink, language: str | None,
           quality: int | None) -> Facts:
        url = meta.get("webpage_url") or ""
        name = unquote(url.rsplit("/", 1)[-1]) if url.startswith("file:") else url
        return cls(source=name or meta.get("video_id", ""), source_link=link(0),
                   channel=meta.get("channel") or meta.get("uploader"),
                   upload_date=meta.get("upload_date"), duration=meta.get("duration"),
                   language=language, quality=quality)

    def line(self) -> str:
        parts = [f"Source: [{escape(self.source)}]({self.source_link})"]
        if self.channel:
            parts.append(f"Channel: {escape(self.channel)}")
        if self.upload_date:
            parts.append(f"Published: {iso_date(self.upload_date)}")
        if self.duration:
            parts.append(f"Duration: {clock(self.duration)}")
        if self.language:
            parts.append(f"Language: {language_name(self.language)}")
        if self.quality is not None:
            parts.append(f"Quality score: **{self.quality}**/100")
        return " · ".join(parts)


def iso_date(value: str) -> str:
    """``20261102`` (yt-dlp's upload date) → ``2026-11-02``; anything else unchanged."""
    return f"{value[:4]}-{value[4:6]}-{value[6:]}" if re.fullmatch(r"\d{8}", value) else value


def summary_section(summary: VideoSummary, link: MomentLink) -> str:
    """``## Summary``: the abstract and the key moments with their times as links; for a
    summary that failed, one line that says so (a skipped one shows nothing)."""
    if summary.failed:
        return f"## Summary\n\n*No summary: {escape(summary.failed)}*"
    if not summary.ok:
        return ""
    lines = ["## Summary", "", escape(summary.abstract)]
    if summary.partial and summary.covered_s is not None:
        lines += ["", f"*This summary covers the first {clock(summary.covered_s)} of the "
                      "video.*"]
    if summary.key_moments:
        lines += ["", "**Key moments**", ""]
        lines += [f"- [{clock(m.start)}]({link(m.start)}) {escape(m.point)}"
                  for m in summary.key_moments]
    return "\n".join(lines)


def chapter_list(chapters: Sequence[Chapter], anchors: Sequence[str], link: MomentLink) -> str:
    """``## Chapters``: each chapter's title linked to its heading (``anchors``, in order),
    then its time linked to its moment in the video."""
    if not chapters:
        return ""
    lines = ["## Chapters", ""]
    lines += [f"{n}. [{escape(c.title)}](#{anchor}) · [{clock(c.start)}]({link(c.start)})"
              for n, (c, anchor) in enumerate(zip(chapters, anchors, strict=True), start=1)]
    return "\n".join(lines)


def compose(title: str, facts: Facts, summary: VideoSummary, chapters: Sequence[Chapter],
            body: str, link: MomentLink) -> str:
    """``document.md``: the title, the facts, the summary, the chapter list, then the body
    (whose ``## `` chapter headings are those of ``chapters``, in order)."""
    head = [f"# {escape(title.strip()) or 'Untitled'}", facts.line(),
            summary_section(summary, link)]
    # the list's links are the anchors the chapter headings get in the finished document
    opening = "\n\n".join([*head, "## Chapters" if chapters else ""])
    in_opening = len(heading_ids(opening))
    anchors: list[str] = []
    for level, text, anchor in heading_ids(f"{opening}\n\n{body}")[in_opening:]:
        if (len(anchors) < len(chapters) and level == 2
                and text == " ".join(chapters[len(anchors)].title.split())):
            anchors.append(anchor)
    if len(anchors) < len(chapters):  # a heading the body lost: its link goes to the list
        anchors += ["chapters"] * (len(chapters) - len(anchors))
    parts = [*head, chapter_list(chapters, anchors, link), body]
    return "\n\n".join(p for p in parts if p.strip()) + "\n"
