"""The ``embed_and_upsert`` stage: a video's rows, embedded from its files and upserted."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scribeflow.core.config import PipelineSettings
from scribeflow.core.files import (
    VideoPaths,
    read_json,
)
from scribeflow.core.links import clock
from scribeflow.core.records import SUMMARY_CHUNK, ChunkRow, Moment, Transcript
from scribeflow.index import moments
from scribeflow.pipeline.results import Stored
from scribeflow.writing.chunking import without_speaker_labels
from scribeflow.writing.summarize import VideoSummary, read_summary

log = logging.getLogger(__name__)


def chunk_id(video_id: str, chunk_index: int, unit_index: int,
             translation: str | None = None) -> str:
    """Deterministic row id: the same video, chunk and unit (in the same translation, or the
    spoken language's document) always give the same id."""
    key = f"{video_id}\x1f{chunk_index}\x1f{unit_index}"
    if translation:
        key += f"\x1f{translation}"
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def content_hash(chunk: dict[str, Any], meta: dict[str, Any], language: str | None,
                 model: str, heard: Sequence[str | None] = ()) -> str:
    """What a chunk's rows are made from: its text, times and video fields, the model, and
    the speaker of each word spoken during it (``heard``). The same hash means the same rows,
    vectors included (units are cut by the model)."""
    from scribeflow.index.moments import VERSION

    fields = [model, chunk["text"], chunk["start"], chunk["end"], meta["title"],
              meta.get("channel"), meta.get("upload_date"), language, meta["webpage_url"],
              f"moments-{VERSION}", "speakers", list(heard)]
    return hashlib.sha256(json.dumps(fields).encode()).hexdigest()[:32]


@dataclass(frozen=True)
class _Document:
    """One language's chunks of a video: the spoken language's document, a translation, or
    the summary (one chunk, :data:`SUMMARY_CHUNK`)."""

    language: str | None
    chunks: list[dict]
    translation: bool
    summary: bool = False

    @property
    def spoken(self) -> bool:
        """Its words are the speech's: they place a hit's moments and speakers."""
        return not (self.translation or self.summary)

    def key(self, chunk: dict) -> tuple[str | None, int]:
        return (self.language, chunk["index"])


#: A word of the transcript: when it was spoken, the word, and its speaker (None where the
#: video has one speaker or was not diarized).
SpokenWord = tuple[float, str, str | None]


def _video_inputs(video_dir: str) -> tuple[VideoPaths, dict, list[_Document], list[SpokenWord]]:
    """The video's folder, metadata, every document it holds: the spoken language's
    (``document_chunks.json``), then each translation's (``document_chunks.<lang>.json``);
    and its spoken words."""
    from scribeflow.pipeline.speakers import read_transcript

    video = VideoPaths(Path(video_dir))
    transcript = read_transcript(video) if video.transcript.exists() else None
    spoken = _spoken_words(transcript)
    language = transcript.language if transcript else None
    meta = read_json(video.metadata)
    documents = [_Document(language, read_json(video.document_chunks), False)]
    for path in sorted(video.root.glob("document_chunks.*.json")):
        code = path.name.split(".")[1]
        if code != language:
            documents.append(_Document(code, read_json(path), True))
    summary = read_summary(video.summary)
    if summary.ok:
        end = meta.get("duration") or max((c["end"] for c in documents[0].chunks), default=0.0)
        documents.append(_Document(language, [{"index": SUMMARY_CHUNK, "start": 0.0,
                                               "end": float(end), "text": summary_text(summary),
                                               "timed": summary_words(summary)}], False, True))
    return video, meta, documents, spoken


def summary_text(summary: VideoSummary) -> str:
    """What a video's summary entry holds: the abstract, then each key moment's point."""
    return "\n".join([summary.abstract, *(f"{clock(m.start)} {m.point}"
                                          for m in summary.key_moments)])


def summary_words(summary: VideoSummary) -> list[tuple[float, str]]:
    """The summary entry's words with the second each opens: the abstract's the start, a key
    point's its moment (so a hit on a key point plays from where it was said)."""
    return [(0.0, w) for w in summary.abstract.split()] + [
        (m.start, w) for m in summary.key_moments for w in f"{clock(m.start)} {m.point}".split()]


def _heard(doc: _Document, spoken: list[SpokenWord], chunk: dict) -> list[SpokenWord]:
    """The words spoken during ``chunk`` that its speakers come from (none for a summary)."""
    return _heard_in(spoken, chunk) if not doc.summary else []


def _spoken_words(transcript: Transcript | None) -> list[SpokenWord]:
    """Every word ``transcript`` holds, with its speaker (as :func:`read_transcript` gives
    it); a segment without word timestamps gives each of its words the segment's start."""
    if transcript is None:
        return []
    words: list[SpokenWord] = []
    for segment in transcript.segments:
        if segment.words:
            words.extend((w.start, w.word, w.speaker) for w in segment.words)
        else:
            words.extend((segment.start, w, segment.speaker) for w in segment.text.split())
    return words


def embed_video(video_dir: str, settings: PipelineSettings,
                keep: Collection[tuple[str | None, int]] = ()) -> tuple[str, list[ChunkRow]]:
    """The video's rows: each chunk's final text, in the spoken language and in each
    translation, embedded in units that fit the model, but for the ``(language, chunk index)``
    in ``keep`` (whose stored rows are current).

    Reads only files in the video's folder, so it also rebuilds a lost store (``reindex``).
    """
    from scribeflow.core.links import deep_link
    from scribeflow.index.embedding import model_label

    video, meta, documents, spoken = _video_inputs(video_dir)
    label = model_label(settings.embed_model)
    todo = [(doc, c) for doc in documents for c in doc.chunks if doc.key(c) not in keep]
    if not todo:
        return meta["video_id"], []
    started = time.perf_counter()
    texts = [without_speaker_labels(c["text"]) for _, c in todo]
    if settings.model_host:  # split and embedded where the model stays loaded
        from scribeflow.hosts.model_client import ModelHostClient

        embedded = ModelHostClient(settings.model_host).embed(settings.embed_model, texts,
                                                              settings.embed_batch_size)
    else:
        from scribeflow.index.embedding import embed_chunks, load_embedder

        embedded = embed_chunks(load_embedder(settings.embed_model), texts,
                                settings.embed_batch_size)
    units = [(doc, chunk, u, unit) for (doc, chunk), pieces in zip(todo, embedded, strict=True)
             for u, unit in enumerate(pieces)]
    # the spoken words place a hit's moment; a translation's words were not spoken
    unit_moments = [moments.make(unit.text, chunk["timed"] if doc.summary else [] if
                                 doc.translation else
                                 [(t, w) for t, w, _ in _spoken_in(spoken, chunk)],
                                 chunk["start"], unit.windows) for doc, chunk, _, unit in units]
    heard = {doc.key(c): _heard(doc, spoken, c) for doc, c in todo}  # once a chunk
    unit_speakers = _unit_speakers(units, unit_moments, heard)
    log.info("embedded %d units of %s in %d language(s) (%d moments) with %s in %.2f s%s",
             len(units), meta["video_id"], len({doc.language for doc, _ in todo}),
             sum(len(m) for m in unit_moments), label, time.perf_counter() - started,
             " (model host)" if settings.model_host else "")
    return meta["video_id"], [
        ChunkRow(
            id=chunk_id(meta["video_id"], chunk["index"], u,
                        doc.language if doc.translation else None),
            video_id=meta["video_id"], chunk_index=chunk["index"], unit_index=u,
            start=chunk["start"], end=chunk["end"], text=unit.text, title=meta["title"],
            channel=meta.get("channel"), upload_date=meta.get("upload_date"),
            language=doc.language, url=deep_link(meta["webpage_url"], chunk["start"]),
            model=label, vector=unit.vector,
            content_hash=content_hash(chunk, meta, doc.language, label,
                                      _speakers_of(heard[doc.key(chunk)])),
            moments=found, speakers=who,
        )
        for (doc, chunk, u, unit), found, who in zip(units, unit_moments, unit_speakers,
                                                     strict=True)
    ]


def _spoken_in(spoken: list[SpokenWord], chunk: dict) -> list[SpokenWord]:
    """The words spoken during ``chunk`` (a second of slack at each end)."""
    return [w for w in spoken if chunk["start"] - 1.0 <= w[0] <= chunk["end"] + 1.0]


def _heard_in(spoken: list[SpokenWord], chunk: dict) -> list[SpokenWord]:
    """The words spoken within ``chunk``'s times (a neighbour's first or last word left out)."""
    return [w for w in spoken if chunk["start"] - 0.05 <= w[0] <= chunk["end"]]


def _speakers_of(words: Sequence[SpokenWord]) -> list[str | None]:
    return [speaker for _, _, speaker in words]


def _unit_speakers(units: Sequence[tuple[_Document, dict, int, Any]],
                   unit_moments: Sequence[Sequence[Moment]],
                   heard: dict[tuple[str | None, int], list[SpokenWord]]
                   ) -> list[tuple[str, ...]]:
    """Who is heard in each unit, in the order they speak: the speakers of the words spoken
    from the unit's first moment to the next unit's, within its chunk (a translation's
    unit, whose words were not spoken, or one without moments: its chunk's speakers).
    ``heard``: each chunk's words (:func:`_heard_in`)."""
    begins = [m[0].start if m and doc.spoken else None
              for (doc, _, _, _), m in zip(units, unit_moments, strict=True)]
    out = []
    for n, (doc, chunk, _, _) in enumerate(units):
        same = [k for k in (n - 1, n + 1) if 0 <= k < len(units)
                and units[k][0] is doc and units[k][1] is chunk]
        begin = begins[n] if n - 1 in same else None
        end = begins[n + 1] if n + 1 in same else None
        words = [w for w in heard[doc.key(chunk)]
                 if (begin is None or w[0] >= begin) and (end is None or w[0] < end)]
        out.append(tuple(dict.fromkeys(s for s in _speakers_of(words) if s)))
    return out


def upsert_video_rows(video_dir: str, settings: PipelineSettings, dsn: str | None = None
                      ) -> Stored:
    """Bring the video's rows in the store up to date: chunks whose stored rows carry their
    content hash keep them; the others are embedded, and the video's rows replaced as a
    whole. With nothing changed, no model is loaded and nothing is written."""
    from scribeflow.index.embedding import model_label
    from scribeflow.index.store import open_store
    from scribeflow.pipeline.reuse import rows_digest

    _, meta, documents, spoken = _video_inputs(video_dir)
    label = model_label(settings.embed_model)
    wanted = {doc.key(c): content_hash(c, meta, doc.language, label,
                                       _speakers_of(_heard(doc, spoken, c)))
              for doc in documents for c in doc.chunks}
    store = open_store(settings, dsn)
    stored_rows = store.video_rows(meta["video_id"])
    stored: dict[tuple[str | None, int], set[str | None]] = {}
    for row in stored_rows:
        stored.setdefault((row.language, row.chunk_index), set()).add(row.content_hash)
    current = {i for i, h in wanted.items() if stored.get(i) == {h}}
    if current == set(wanted) == set(stored):
        log.info("%s store: the %d rows of %s are current (%d chunks unchanged): nothing "
                 "embedded or written", store.name, len(stored_rows), meta["video_id"],
                 len(current))
        return Stored(store=store.name, embed_model=label, rows=len(stored_rows), replaced=0,
                      embedded=0, total_rows=store.count(), rows_digest=rows_digest(stored_rows))
    kept = [r for r in store.video_rows(meta["video_id"], vectors=True)
            if (r.language, r.chunk_index) in current] if current else []
    video_id, rows = embed_video(video_dir, settings, keep=current)
    rows = sorted(kept + rows, key=lambda r: (r.language != documents[0].language,
                                              r.language or "", r.chunk_index, r.unit_index))
    upserted = store.upsert_video(video_id, rows)
    log.info("%s store: %d rows for %s (was %d; %d chunks embedded, %d unchanged), %d in all",
             store.name, upserted.after, video_id, upserted.before, len(wanted) - len(current),
             len(current), upserted.total)
    return Stored(store=store.name, embed_model=label, rows=upserted.after,
                  replaced=upserted.before, embedded=len(rows) - len(kept),
                  total_rows=upserted.total, rows_digest=rows_digest(rows))


