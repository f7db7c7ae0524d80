"""A video's summary: a short abstract and its key moments, each at the second it summarises.

The model gives the abstract and, for each key point, the sentence of the transcript it
summarises, copied out; that sentence is matched back to the word timestamps as a chapter's
is (:func:`scribeflow.writing.chapters.locate`), so a key moment's time is always where its
words were spoken, never a time the model wrote. An answer whose quotes are not in the
transcript, or whose abstract shares almost no words with it, is about something else: it is
unusable, asked again, and never cached.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scribeflow.core.errors import ScribeflowError
from scribeflow.core.links import clock
from scribeflow.core.records import Segment
from scribeflow.writing.chapters import locate

#: The abstract's sentences and the key points the prompt asks for.
ABSTRACT_SENTENCES = (2, 4)
KEY_POINTS = (3, 10)
#: Key moments closer than this are one moment (the earlier point is kept).
MIN_GAP_S = 3.0
#: Below this share of its content words found in the transcript, an abstract is about
#: something else (abstracts paraphrase, so most of their words need not be the speaker's).
MIN_ABSTRACT_WORDS_SHARED = 0.2
_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+|(?<=[。！？])")
_CONTENT_WORD = re.compile(r"[^\W\d_]{4,}")


class SummaryParseError(ScribeflowError):
    """The answer holds no abstract with key points that can be read."""


@dataclass(frozen=True)
class KeyMoment:
    """A key point and the moment it summarises: where its ``quote`` starts in the speech."""

    point: str
    start: float
    quote: str
    match: float

    def to_dict(self) -> dict[str, Any]:
        return {"point": self.point, "start": self.start, "clock": clock(self.start),
                "quote": self.quote, "match": self.match}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> KeyMoment:
        return cls(point=data["point"], start=float(data["start"]), quote=data["quote"],
                   match=float(data["match"]))


@dataclass(frozen=True)
class VideoSummary:
    """``summary.json``: the abstract and key moments, or why there are none: ``skipped``
    (the run asked for none, no LLM, no speech) or ``failed`` (the LLM gave no usable
    answer, or could not be reached: the run is degraded, and a later run asks again)."""

    abstract: str = ""
    key_moments: tuple[KeyMoment, ...] = ()
    #: The seconds of speech the summary covers (the transcript up to ``summary_chars``).
    covered_s: float | None = None
    duration_s: float | None = None
    dropped: tuple[str, ...] = ()
    skipped: str | None = None
    failed: str | None = None

    @property
    def ok(self) -> bool:
        return bool(self.abstract) and not (self.skipped or self.failed)

    @property
    def missing(self) -> str | None:
        """Why there is no summary (``failed: …`` or the reason it was skipped), or None."""
        return f"failed: {self.failed}" if self.failed else self.skipped

    @property
    def partial(self) -> bool:
        """The summary covers only the start of a long video."""
        return (self.covered_s is not None and self.duration_s is not None
                and self.covered_s < self.duration_s - 1)

    def to_dict(self) -> dict[str, Any]:
        return {"abstract": self.abstract,
                "key_moments": [m.to_dict() for m in self.key_moments],
                "covered_s": self.covered_s, "duration_s": self.duration_s,
                "dropped": list(self.dropped), "skipped": self.skipped, "failed": self.failed}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VideoSummary:
        return cls(abstract=data.get("abstract") or "",
                   key_moments=tuple(KeyMoment.from_dict(m) for m in data.get("key_moments", [])),
                   covered_s=data.get("covered_s"), duration_s=data.get("duration_s"),
                   dropped=tuple(data.get("dropped", [])), skipped=data.get("skipped"),
                   failed=data.get("failed"))


def read_summary(path: Path) -> VideoSummary:
    """``summary.json``'s one reader; a video processed before summaries gives ``skipped``."""
    if not path.exists():
        return VideoSummary(skipped="not made (processed before summaries)")
    return VideoSummary.from_dict(json.loads(path.read_text(encoding="utf-8")))


@dataclass(frozen=True)
class Proposal:
    """What the model proposed: the abstract and ``(point, quote)`` pairs."""

    abstract: str
    points: tuple[tuple[str, str], ...] = field(default_factory=tuple)


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text.strip()) if s.strip()]


def check_proposal(abstract: str, points: Sequence[tuple[str, str]]) -> Proposal:
    """The proposal, or :class:`SummaryParseError` when it is not an abstract of 1-4
    sentences with 1-10 key points (a short video may give one sentence and fewer points;
    how many key points are found in the speech is checked against the transcript)."""
    abstract = " ".join(abstract.split())
    count = len(sentences(abstract))
    if not abstract:
        raise SummaryParseError("the answer has no abstract")
    if count > ABSTRACT_SENTENCES[1]:
        raise SummaryParseError(f"the abstract has {count} sentences, not "
                                f"{ABSTRACT_SENTENCES[0]}-{ABSTRACT_SENTENCES[1]}")
    kept = tuple((" ".join(p.split()), " ".join(q.split())) for p, q in points
                 if p.strip() and q.strip())
    if not kept:
        raise SummaryParseError("the answer has no key point with the sentence it summarises")
    if len(kept) > KEY_POINTS[1]:
        raise SummaryParseError(f"the answer has {len(kept)} key points, not "
                                f"{KEY_POINTS[0]}-{KEY_POINTS[1]}")
    return Proposal(abstract=abstract, points=kept)


_ABSTRACT = re.compile(r"^\W*(?:abstract|summary)\W*[:\-–—]\s*(?P<text>.*)$", re.I)
_POINT = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s*(?:\[?\d{1,2}:\d{2}(?::\d{2})?\]?\s*)?"
                    r"(?P<point>.+?)\s*(?:\||[–—]\s*quote:|\bquote:)\s*[\"“]?(?P<quote>[^\"”]{6,}?)"
                    r"[\"”]?\s*$", re.I)


def parse_summary(text: str) -> Proposal:
    """A proposal from JSON (possibly fenced, or with chatter around it) or from text:
    an ``Abstract:`` paragraph and key points as ``- point | "quote"`` lines."""
    text = (text or "").strip()
    start, end = text.find("{"), text.rfind("}")
    if start != -1 and end > start:
        try:
            data = json.loads(text[start:end + 1])
        except json.JSONDecodeError:
            data = None
        if isinstance(data, dict):
            return _from_json(data)
    abstract: list[str] = []
    points: list[tuple[str, str]] = []
    in_abstract = False
    for line in text.splitlines():
        if (found := _ABSTRACT.match(line)) is not None:
            abstract, in_abstract = [found["text"]], True
        elif (point := _POINT.match(line)) is not None:
            points.append((point["point"].strip("*_ "), point["quote"]))
            in_abstract = False
        elif in_abstract and line.strip() and not line.rstrip().endswith(":"):
            abstract.append(line)
        elif line.strip():
            in_abstract = False
    if not abstract:
        raise SummaryParseError(f"no abstract in the answer {text[:80]!r}")
    return check_proposal(" ".join(abstract), points)


def _from_json(data: dict[str, Any]) -> Proposal:
    lowered = {str(k).lower(): v for k, v in data.items()}
    abstract = next((lowered[k] for k in ("abstract", "summary") if k in lowered), None)
    items = next((lowered[k] for k in ("key_points", "key_moments", "points") if k in lowered),
                 None)
    if not isinstance(abstract, str) or not isinstance(items, list):
        raise SummaryParseError(f"a JSON answer without an abstract and key points (keys: "
                                f"{', '.join(sorted(lowered))[:120]})")
    points = []
    for item in items:
        if isinstance(item, dict):
            fields = {str(k).lower(): v for k, v in item.items()}
            point, quote = fields.get("point") or fields.get("text"), fields.get("quote")
            if isinstance(point, str) and isinstance(quote, str):
                points.append((point, quote))
    return check_proposal(abstract, points)


def content_words(text: str) -> set[str]:
    return set(_CONTENT_WORD.findall(text.lower()))


def key_moments(proposal: Proposal, segments: Sequence[Segment], end: float = float("inf")
                ) -> tuple[list[KeyMoment], list[str]]:
    """The proposal's points located in ``segments`` (up to ``end``), in spoken order, one
    per moment; and why each other point was dropped."""
    found, dropped = [], []
    for point, quote in proposal.points:
        where = locate(quote, segments, 0.0, end)
        if where is None:
            dropped.append(f"key point {point[:60]!r}: the sentence it summarises is not in "
                           "the transcript")
            continue
        found.append(KeyMoment(point=point, start=where[0], quote=quote, match=where[1]))
    moments: list[KeyMoment] = []
    for moment in sorted(found, key=lambda m: (m.start, -m.match)):
        if moments and moment.start - moments[-1].start < MIN_GAP_S:
            dropped.append(f"key point {moment.point[:60]!r}: the same moment as "
                           f"{moments[-1].point[:60]!r}")
            continue
        moments.append(moment)
    return moments, dropped


def unrelated(proposal: Proposal, transcript: str, segments: Sequence[Segment],
              end: float = float("inf")) -> str | None:
    """Why the proposal is not a summary of this transcript, or None: too few of its key
    points are in the speech (at least 3, or one per sentence of a shorter transcript), or
    its abstract shares too few words with it."""
    moments, _ = key_moments(proposal, segments, end)
    needed = min(KEY_POINTS[0], max(1, len(sentences(transcript))))
    if len(moments) < needed:
        return (f"{len(moments)} of its {len(proposal.points)} key points are in the "
                f"transcript; at least {needed} are needed")
    words = content_words(proposal.abstract)
    if len(words) >= 5:
        share = len(words & content_words(transcript)) / len(words)
        if share < MIN_ABSTRACT_WORDS_SHARED:
            return (f"its abstract shares {share:.0%} of its words with the transcript (it "
                    "is about something else)")
    return None
