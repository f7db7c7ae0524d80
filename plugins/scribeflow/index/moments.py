"""Moments: where inside a stored unit a search hit starts.

A unit (a chunk's text, up to the embedding model's 256 word pieces) is what a search ranks;
a user wants to land on the sentence that answers. Each unit therefore stores its moments:
windows of consecutive sentences, one starting at each sentence and at the equal parts of
one longer than ``PIECE_WORDS`` words, at most ``WINDOW_WORDS`` words each, each with

- the second its first word was spoken: the transcript's word timestamps aligned to the
  unit's words (``difflib``: the unit's text may be an LLM's polished version of what was
  said), and
- a 1-bit code of its embedding (the signs of its 384 dimensions: 48 bytes).

A search scores each hit's codes against the float query vector (asymmetric: only the
stored side is quantised) and starts the hit at the best window, or at an earlier one up to
``LEAD_S`` before it. Choosing among a unit's few windows costs a few thousand multiply-adds
per hit; a code is 48 bytes where a float16 vector of the window would be 768.

The packed form (:func:`pack`, :func:`unpack`) is what both stores keep in their
``moments`` column.
"""

from __future__ import annotations

import difflib
import math
import re
import struct
from collections.abc import Sequence
from typing import Any

from scribeflow.core.records import Moment, SearchHit

#: The most words a window holds (about 8 s of speech).
WINDOW_WORDS = 24
#: A window starts at each sentence, and a longer one is cut into equal parts of at most this
#: many words, each the start of a window too.
PIECE_WORDS = 12
#: A hit starts at the earliest window at most this long before its best one (a lead-in:
#: with overlapping windows the best-scoring one often starts mid-answer).
LEAD_S = 3.0
#: The most characters a window holds: fewer than the model's 256 word pieces whatever the
#: words are, so a window is never truncated.
WINDOW_CHARS = 240
#: Bump when windows, times or codes are made differently: rows are made again.
VERSION = 1
_WORD = re.compile(r"\S+")
_SENTENCE_END = re.compile(r"[.!?…。！？]['\"’”)\]]*$")
_NORMAL = re.compile(r"\w+", re.UNICODE)
_HEADER = struct.Struct("<BHH")  # version, windows, code bytes
_ENTRY = struct.Struct("<fI")    # start second, character offset


def windows(text: str) -> list[tuple[int, str]]:
    """``text``'s windows: (character offset, text), one starting at each sentence."""
    spans = [(m.start(), m.end()) for m in _WORD.finditer(text)]
    if not spans:
        return []
    sentences = [0] + [i for i in range(1, len(spans))
                       if _SENTENCE_END.search(text[spans[i - 1][0]:spans[i - 1][1]])]
    starts = []  # word indices where a piece begins: each sentence, a long one in equal parts
    for first, end in zip(sentences, sentences[1:] + [len(spans)], strict=True):
        parts = math.ceil((end - first) / PIECE_WORDS)
        starts.extend(first + round(k * (end - first) / parts) for k in range(parts))
    out = []
    for n, first in enumerate(starts):
        ends = starts[n + 1:] + [len(spans)]
        last = ends[0]  # the piece itself (at most PIECE_WORDS words), then whole pieces
        for later in ends[1:]:
            if later - first > WINDOW_WORDS:
                break
            last = later
        while last - 1 > first and spans[last - 1][1] - spans[first][0] > WINDOW_CHARS:
            last -= 1
        begin, end = spans[first][0], min(spans[last - 1][1], spans[first][0] + WINDOW_CHARS)
        out.append((begin, text[begin:end]))
    return out


def word_times(text: str, spoken: Sequence[tuple[float, str]]) -> list[float | None]:
    """The time each word of ``text`` was spoken, from ``spoken`` (start, word) pairs: words
    matched by alignment take their spoken word's start; the others the last matched time
    before them (the first one after, at the start). None for all when nothing matches."""
    ours = [_normal(m.group()) for m in _WORD.finditer(text)]
    theirs = [_normal(w) for _, w in spoken]
    times: list[float | None] = [None] * len(ours)
    matcher = difflib.SequenceMatcher(None, ours, theirs, autojunk=False)
    for block in matcher.get_matching_blocks():
        for j in range(block.size):
            if ours[block.a + j]:
                times[block.a + j] = spoken[block.b + j][0]
    known = [t for t in times if t is not None]
    if not known:
        return times
    last = known[0]
    for i, t in enumerate(times):
        if t is None:
            times[i] = last
        else:
            last = t
    return times


def make(text: str, spoken: Sequence[tuple[float, str]], unit_start: float,
         vectors: Any) -> tuple[Moment, ...]:
    """``text``'s moments from its windows' ``vectors`` (in :func:`windows` order)."""
    import numpy as np

    spans = windows(text)
    if not spans:
        return ()
    times = word_times(text, spoken)
    offsets = [m.start() for m in _WORD.finditer(text)]
    index = {offset: i for i, offset in enumerate(offsets)}
    codes = np.packbits(np.asarray(vectors, dtype=np.float32) > 0, axis=1)
    moments = []
    for (offset, _), code in zip(spans, codes, strict=True):
        start = times[index[offset]]
        moments.append(Moment(start=round(start if start is not None else unit_start, 2),
                              offset=offset, code=code.tobytes()))
    # spoken order: a window never starts before the one before it (alignment slips)
    for i in range(1, len(moments)):
        if moments[i].start < moments[i - 1].start:
            moments[i] = Moment(moments[i - 1].start, moments[i].offset, moments[i].code)
    return tuple(moments)


def landed(hits: Sequence[SearchHit], blobs: Sequence[bytes | None], query: Any
           ) -> list[SearchHit]:
    """Each hit starting at the earliest of its unit's stored moments (``blobs``, in hit
    order) at most ``LEAD_S`` before the one whose code best matches ``query`` (a float
    vector); a hit without moments keeps its start. Every hit's codes are scored in one
    product (a search's 10 hits: about 0.3 ms on this machine, most of it building the hits)."""
    from dataclasses import replace

    import numpy as np

    from scribeflow.core.links import deep_link

    tables = [_table(blob) for blob in blobs]
    sizes = [0 if table is None else len(table) for table in tables]
    scores = np.zeros(0, np.float32)
    if any(sizes):
        codes = np.concatenate([table["code"] for table in tables if table is not None])
        bits = np.unpackbits(codes, axis=1)[:, :len(query)].astype(np.float32)
        scores = (bits * 2 - 1) @ np.asarray(query, dtype=np.float32)
    out, at = [], 0
    for hit, table, size in zip(hits, tables, sizes, strict=True):
        if not size:
            out.append(replace(hit, unit_start=hit.start))
            continue
        starts = table["start"]
        top = int(np.argmax(scores[at:at + size]))
        first = int(np.searchsorted(starts, starts[top] - LEAD_S - 1e-6, side="left"))
        start = round(float(starts[first]), 2)
        out.append(replace(hit, start=start, moment_offset=int(table["offset"][first]),
                           unit_start=hit.start, url=deep_link(hit.url, start)))
        at += size
    return out


def _table(blob: bytes | None) -> Any:
    """A stored blob as a numpy record array (start, offset, code), or None."""
    import numpy as np

    if not blob or len(blob) < _HEADER.size:
        return None
    version, count, size = _HEADER.unpack_from(blob)
    if version != VERSION or len(blob) != _HEADER.size + count * (_ENTRY.size + size) or not count:
        return None  # another version's, or damaged: the hit starts at its unit's start
    entry = np.dtype([("start", "<f4"), ("offset", "<u4"), ("code", "u1", (size,))])
    return np.frombuffer(blob, dtype=entry, count=count, offset=_HEADER.size)


def pack(moments: Sequence[Moment]) -> bytes | None:
    if not moments:
        return None
    size = len(moments[0].code)
    return _HEADER.pack(VERSION, len(moments), size) + b"".join(
        _ENTRY.pack(m.start, m.offset) + m.code for m in moments)


def unpack(blob: bytes | None) -> tuple[Moment, ...]:
    """The moments of a stored blob; none for rows without, of another version, or whose
    blob is damaged."""
    table = _table(blob)
    if table is None:
        return ()
    return tuple(Moment(start=round(float(row["start"]), 2), offset=int(row["offset"]),
                        code=row["code"].tobytes()) for row in table)


def _normal(word: str) -> str:
    return "".join(_NORMAL.findall(word.lower()))
