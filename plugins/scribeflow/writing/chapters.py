"""Chapters: titles with the moment each starts, proposed by an LLM over groups of chunks.

The model gives a title and the sentence a chapter starts with; the sentence is matched back
to the transcript's word timestamps (fuzzy, so a paraphrase still lands), then chapters from
all groups are ordered and de-duplicated. The first chapter starts at 0:00, as YouTube
requires of a chapter list.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from scribeflow.core.errors import ScribeflowError
from scribeflow.core.links import clock
from scribeflow.core.records import Segment

#: Lowest fuzzy-match score (0-100) at which a starting sentence counts as found.
MIN_MATCH = 70.0
#: Chapters closer than this many seconds are one chapter (YouTube's shortest chapter).
MIN_GAP_S = 10.0
_WORD = re.compile(r"[\w']+")


class ChapterParseError(ScribeflowError):
    """The answer holds no chapter that can be read."""


@dataclass(frozen=True)
class Chapter:
    title: str
    start: float
    sentence: str
    match: float

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Chapter:
        """From ``chapters.json`` (whose entries also carry their ``clock``)."""
        return cls(title=data["title"], start=float(data["start"]), sentence=data["sentence"],
                   match=float(data["match"]))


def parse_proposals(text: str) -> list[tuple[str, str]]:
    """``(title, starting sentence)`` pairs from a JSON list (possibly fenced or with chatter
    around it) or from ``Title: sentence`` / ``Title | sentence`` lines."""
    text = (text or "").strip()
    start, end = text.find("["), text.rfind("]")
    if start != -1 and end > start:
        try:
            items = json.loads(text[start:end + 1])
        except json.JSONDecodeError:
            items = None
        if isinstance(items, list) and items and all(isinstance(i, dict) for i in items):
            pairs = [(title, sentence) for item in items
                     if (title := _field(item, TITLE_KEYS)) and (sentence := _field(item, START_KEYS))]
            if not pairs:  # JSON it is: its keys are never titles
                keys = sorted({str(k) for item in items for k in item})
                raise ChapterParseError(f"chapters as JSON without a title and a starting "
                                        f"sentence (keys: {', '.join(keys)[:120]})")
            return pairs
    pairs = []
    for line in text.splitlines():
        match = re.match(r"^\s*(?:[-*•]|\d+[.)])?\s*\**(?P<title>[^|:*]{2,80}?)\**\s*[|:–—]\s*"
                         r"[\"“]?(?P<sentence>[^\"”]{8,}?)[\"”]?\s*$", line)
        title = match["title"].strip() if match else ""
        if match and not _looks_like_key(title):
            pairs.append((title, match["sentence"].strip()))
    if not pairs:
        raise ChapterParseError(f"no chapters in the answer {text[:80]!r}")
    return pairs


#: The names models give a chapter's fields (the chaptering design document uses start_text).
TITLE_KEYS = ("title", "chapter_title", "chapter", "heading", "name", "topic")
START_KEYS = ("start", "start_text", "start_sentence", "starting_sentence", "first_sentence",
              "opening_sentence", "sentence", "begins_with", "quote")


def _field(item: dict, keys: Sequence[str]) -> str:
    lowered = {str(k).strip().lower(): v for k, v in item.items()}
    for key in keys:
        value = lowered.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return ""


def _looks_like_key(title: str) -> bool:
    """A JSON key (``"start_text"``) or a field name is never a chapter title."""
    bare = title.strip("\"'` ")
    return (title[:1] in "\"'`" or bare.lower() in TITLE_KEYS + START_KEYS
            or bool(re.fullmatch(r"[a-z]+(_[a-z]+)+", bare)))


def _norm(words: Sequence[str]) -> str:
    return " ".join(w.lower() for w in words)


def locate(sentence: str, segments: Sequence[Segment], start: float = 0.0,
           end: float = float("inf")) -> tuple[float, float] | None:
    """``(time, score)`` where ``sentence`` starts among the words between ``start`` and
    ``end``, or None when nothing matches at least :data:`MIN_MATCH`."""
    from rapidfuzz import fuzz

    target = _WORD.findall(sentence)
    if not target:
        return None
    words = [(w.start, _WORD.findall(w.word)) for s in segments for w in s.words
             if start - 1 <= w.start <= end + 1]
    flat = [(t, token) for t, tokens in words for token in tokens]
    if not flat:  # no word timestamps: fall back to segments
        flat = [(s.start, token) for s in segments if start - 1 <= s.start <= end + 1
                for token in _WORD.findall(s.text)]
    wanted = _norm(target)
    n = len(target)
    best: tuple[float, float] | None = None
    for i in range(len(flat)):
        window = _norm(token for _, token in flat[i:i + n])
        score = fuzz.ratio(wanted, window)
        if best is None or score > best[1]:
            best = (flat[i][0], score)
    if best is None or best[1] < MIN_MATCH:
        return None
    return round(best[0], 2), round(best[1], 1)


def merge(chapters: Sequence[Chapter], min_gap_s: float = MIN_GAP_S) -> list[Chapter]:
    """Ordered by start, without near-duplicates; the first starts at 0."""
    out: list[Chapter] = []
    for chapter in sorted(chapters, key=lambda c: (c.start, -c.match)):
        if out and (chapter.start - out[-1].start < min_gap_s
                    or chapter.title.lower() == out[-1].title.lower()):
            continue
        out.append(chapter)
    if out and out[0].start > 0:
        first = out[0]
        out[0] = Chapter(title=first.title, start=0.0, sentence=first.sentence, match=first.match)
    return out


def youtube_list(chapters: Sequence[Chapter]) -> str:
    return "\n".join(f"{clock(c.start)} {c.title}" for c in chapters) + ("\n" if chapters else "")


#: Lowest fuzzy-match score (0-100) at which a sentence of the polished document is taken
#: for the chapter's starting sentence; below it, the chapter's time places its heading.
MIN_PLACE_MATCH = 60.0
#: A paragraph that opens with its speaker (``Speaker 2:``, ``**Speaker 2 (host):**``).
_SPEAKER = re.compile(r"^(?:\*\*)?Speaker \d+(?: \([^)]*\))?(?::\*\*|\*\*:|:)\s*")


def with_chapter_headings(chunks: Sequence[dict], chapters: Sequence[Chapter]) -> str:
    """The document's body: each chunk's text in order (its own headings one level down),
    with a ``##`` heading per chapter before the sentence the chapter starts with, wherever
    in its chunk that sentence is. The polished sentence is found by its words; when the
    rewrite changed them too much, by the chapter's time within its chunk. The first chapter
    opens the body."""
    pending = sorted(chapters, key=lambda c: c.start)
    blocks: list[str] = []
    for index, chunk in enumerate(chunks):
        next_start = chunks[index + 1]["start"] if index + 1 < len(chunks) else float("inf")
        mine = []
        while pending and (pending[0].start < next_start or index + 1 == len(chunks)):
            mine.append(pending.pop(0))
        text = re.sub(r"^(#{2,5})\s", r"#\1 ", chunk["text"].strip(), flags=re.MULTILINE)
        if text or mine:
            blocks.extend(_headed(text, chunk, mine, first=index == 0))
    return "\n\n".join(blocks)


def _headed(text: str, chunk: dict, chapters: Sequence[Chapter], first: bool) -> list[str]:
    """``text``'s blocks with each chapter's heading before the sentence it starts at."""
    blocks = [b for b in re.split(r"\n\s*\n", text) if b.strip()] if text else []
    # every sentence of the prose blocks: (block, offset in it, its text)
    slots = [(b, m.start(), m.group(0)) for b, block in enumerate(blocks)
             if not block.lstrip().startswith(("#", "|", "```"))
             for m in re.finditer(r"\S(?:.*?)(?:[.!?…](?=\s)|$)", block, re.DOTALL)]
    slots = [(b, o, t) for b, o, t in slots if t.strip()]
    placed: list[tuple[int, int, str]] = []
    cursor = 0
    for chapter in chapters:
        if first and chapter.start == 0.0 and not placed:
            placed.append((0, 0, chapter.title))
            continue
        at = _find(chapter, chunk, slots, cursor)
        if at is None:  # a chunk with no prose: the heading goes after it
            placed.append((len(blocks), 0, chapter.title))
            continue
        cursor = at + 1
        placed.append((slots[at][0], slots[at][1], chapter.title))
    for block, offset, title in reversed(placed):
        heading = f"## {title}"
        if block >= len(blocks):
            blocks.append(heading)
        elif offset == 0 or not blocks[block][:offset].strip():
            # a chunk heading right above the paragraph stays under the chapter's
            at = block - 1 if block and blocks[block - 1].lstrip().startswith("#") else block
            blocks.insert(at, heading)
        else:
            paragraph = blocks[block]
            speaker = _SPEAKER.match(paragraph)
            rest = paragraph[offset:].lstrip()
            blocks[block:block + 1] = [paragraph[:offset].rstrip(), heading,
                                       (speaker.group(0) if speaker else "") + rest]
    return blocks


def _find(chapter: Chapter, chunk: dict, slots: Sequence[tuple[int, int, str]],
          cursor: int) -> int | None:
    """The slot (a sentence of the chunk, from ``cursor`` on) the chapter starts at."""
    from rapidfuzz import fuzz

    if not slots:
        return None
    wanted = _norm(_WORD.findall(chapter.sentence))
    best, score = None, 0.0
    for n in range(cursor, len(slots)):  # a turn's first sentence, without its speaker
        ratio = fuzz.ratio(wanted, _norm(_WORD.findall(_SPEAKER.sub("", slots[n][2]))))
        if ratio > score:
            best, score = n, ratio
    if best is not None and score >= MIN_PLACE_MATCH:
        return best
    # by time: the sentence at the chapter's share of the chunk's words
    words = [len(_WORD.findall(t)) for _, _, t in slots]
    span = max(chunk.get("end", chunk["start"]) - chunk["start"], 1e-6)
    share = min(max((chapter.start - chunk["start"]) / span, 0.0), 1.0)
    target, seen = share * sum(words), 0
    for n, count in enumerate(words):
        if n >= cursor and seen + count > target:
            return n
        seen += count
    return len(slots) - 1 if len(slots) - 1 >= cursor else None
