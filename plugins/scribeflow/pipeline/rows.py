"""The ``embed_and_upsert`` stage: a video's rows, embedded from its files and upserted."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Collection
from pathlib import Path
from typing import Any

from scribeflow.core.config import PipelineSettings
from scribeflow.core.files import (
    VideoPaths,
    read_json,
)
from scribeflow.core.records import ChunkRow
from scribeflow.index import moments
from scribeflow.pipeline.results import Stored

log = logging.getLogger(__name__)


def chunk_id(video_id: str, chunk_index: int, unit_index: int) -> str:
    """Deterministic row id: the same video, chunk and unit always give the same id."""
    return hashlib.sha256(f"{video_id}\x1f{chunk_index}\x1f{unit_index}".encode()).hexdigest()[:32]


def content_hash(chunk: dict[str, Any], meta: dict[str, Any], language: str | None,
                 model: str) -> str:
    """What a chunk's rows are made from: its text, times and video fields, and the model.
    The same hash means the same rows, vectors included (units are cut by the model)."""
    from scribeflow.index.moments import VERSION

    fields = [model, chunk["text"], chunk["start"], chunk["end"], meta["title"],
              meta.get("channel"), meta.get("upload_date"), language, meta["webpage_url"],
              f"moments-{VERSION}"]
    return hashlib.sha256(json.dumps(fields).encode()).hexdigest()[:32]


def _video_inputs(video_dir: str) -> tuple[VideoPaths, dict, list[dict], str | None]:
    video = VideoPaths(Path(video_dir))
    language = read_json(video.transcript).get("language") if video.transcript.exists() else None
    return video, read_json(video.metadata), read_json(video.document_chunks), language


def _spoken_words(video: VideoPaths) -> list[tuple[float, str]]:
    """(start, word) of every word the transcript holds; a segment without word timestamps
    gives each of its words the segment's start."""
    if not video.transcript.exists():
        return []
    words = []
    for segment in read_json(video.transcript).get("segments", []):
        if segment.get("words"):
            words.extend((w["start"], w["word"]) for w in segment["words"])
        else:
            words.extend((segment["start"], w) for w in segment.get("text", "").split())
    return words


def embed_video(video_dir: str, settings: PipelineSettings, keep: Collection[int] = ()
                ) -> tuple[str, list[ChunkRow]]:
    """The video's rows: each chunk's final text embedded in units that fit the model, but
    for the chunks in ``keep`` (whose stored rows are current).

    Reads only files in the video's folder, so it also rebuilds a lost store (``reindex``).
    """
    from scribeflow.core.links import deep_link
    from scribeflow.index.embedding import model_label

    video, meta, chunks, language = _video_inputs(video_dir)
    label = model_label(settings.embed_model)
    chunks = [c for c in chunks if c["index"] not in keep]
    if not chunks:
        return meta["video_id"], []
    spoken = _spoken_words(video)
    started = time.perf_counter()
    texts = [c["text"] for c in chunks]
    if settings.model_host:  # split and embedded where the model stays loaded
        from scribeflow.hosts.model_host import ModelHostClient

        embedded = ModelHostClient(settings.model_host).embed(settings.embed_model, texts,
                                                              settings.embed_batch_size)
    else:
        from scribeflow.index.embedding import embed_chunks, load_embedder

        embedded = embed_chunks(load_embedder(settings.embed_model), texts,
                                settings.embed_batch_size)
    units = [(chunk, u, unit) for chunk, pieces in zip(chunks, embedded, strict=True)
             for u, unit in enumerate(pieces)]
    during = {c["index"]: _spoken_in(spoken, c) for c in chunks}  # once a chunk, not a unit
    unit_moments = [moments.make(unit.text, during[chunk["index"]], chunk["start"],
                                 unit.windows) for chunk, _, unit in units]
    log.info("embedded %d units of %s (%d moments) with %s in %.2f s%s", len(units),
             meta["video_id"], sum(len(m) for m in unit_moments), label,
             time.perf_counter() - started, " (model host)" if settings.model_host else "")
    hashes = {c["index"]: content_hash(c, meta, language, label) for c in chunks}
    return meta["video_id"], [
        ChunkRow(
            id=chunk_id(meta["video_id"], chunk["index"], u), video_id=meta["video_id"],
            chunk_index=chunk["index"], unit_index=u, start=chunk["start"], end=chunk["end"],
            text=unit.text, title=meta["title"], channel=meta.get("channel"),
            upload_date=meta.get("upload_date"), language=language,
            url=deep_link(meta["webpage_url"], chunk["start"]), model=label, vector=unit.vector,
            content_hash=hashes[chunk["index"]], moments=found,
        )
        for (chunk, u, unit), found in zip(units, unit_moments, strict=True)
    ]


def _spoken_in(spoken: list[tuple[float, str]], chunk: dict) -> list[tuple[float, str]]:
    """The words spoken during ``chunk`` (a second of slack at each end)."""
    return [w for w in spoken if chunk["start"] - 1.0 <= w[0] <= chunk["end"] + 1.0]


def upsert_video_rows(video_dir: str, settings: PipelineSettings, dsn: str | None = None
                      ) -> Stored:
    """Bring the video's rows in the store up to date: chunks whose stored rows carry their
    content hash keep them; the others are embedded, and the video's rows replaced as a
    whole. With nothing changed, no model is loaded and nothing is written."""
    from scribeflow.index.embedding import model_label
    from scribeflow.index.store import open_store
    from scribeflow.pipeline.reuse import rows_digest

    video, meta, chunks, language = _video_inputs(video_dir)
    label = model_label(settings.embed_model)
    wanted = {c["index"]: content_hash(c, meta, language, label) for c in chunks}
    store = open_store(settings, dsn)
    stored_rows = store.video_rows(meta["video_id"])
    stored: dict[int, set[str | None]] = {}
    for row in stored_rows:
        stored.setdefault(row.chunk_index, set()).add(row.content_hash)
    current = {i for i, h in wanted.items() if stored.get(i) == {h}}
    if current == set(wanted) == set(stored):
        log.info("%s store: the %d rows of %s are current (%d chunks unchanged): nothing "
                 "embedded or written", store.name, len(stored_rows), meta["video_id"],
                 len(current))
        return Stored(store=store.name, embed_model=label, rows=len(stored_rows), replaced=0,
                      embedded=0, total_rows=store.count(), rows_digest=rows_digest(stored_rows))
    kept = [r for r in store.video_rows(meta["video_id"], vectors=True)
            if r.chunk_index in current] if current else []
    video_id, rows = embed_video(video_dir, settings, keep=current)
    rows = sorted(kept + rows, key=lambda r: (r.chunk_index, r.unit_index))
    upserted = store.upsert_video(video_id, rows)
    log.info("%s store: %d rows for %s (was %d; %d chunks embedded, %d unchanged), %d in all",
             store.name, upserted.after, video_id, upserted.before, len(wanted) - len(current),
             len(current), upserted.total)
    return Stored(store=store.name, embed_model=label, rows=upserted.after,
                  replaced=upserted.before, embedded=len(rows) - len(kept),
                  total_rows=upserted.total, rows_digest=rows_digest(rows))


