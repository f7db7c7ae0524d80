"""``scribeflow reindex``: the store rebuilt from every processed video's files."""

from __future__ import annotations

import logging
from typing import Any

from scribeflow.core.config import PipelineSettings
from scribeflow.core.records import ChunkRow
from scribeflow.pipeline.results import Reindexed
from scribeflow.pipeline.rows import embed_video

log = logging.getLogger(__name__)


def reindex(settings: PipelineSettings, dsn: str | None = None, batch_rows: int = 20_000,
            report: Any = None) -> Reindexed:
    """Rebuild the store from every processed video on disk, in bulk writes of about
    ``batch_rows`` rows. ``report(video_id, rows, replaced)`` is called per video."""
    from scribeflow.index.store import open_store

    store = open_store(settings, dsn)
    if settings.data_url:
        return _reindex_from_objects(settings, store, batch_rows, report)
    folders = sorted(p for p in (settings.data_dir / "videos").glob("*")
                     if (p / "document_chunks.json").exists())
    pending: dict[str, list[ChunkRow]] = {}
    total = 0
    with store.bulk_session():  # pgvector builds its indexes once, at the end
        for folder in folders:
            video_id, rows = embed_video(str(folder), settings)
            pending[video_id] = rows
            if sum(len(r) for r in pending.values()) >= batch_rows:
                total = _flush(store, pending, report)
        if pending:
            total = _flush(store, pending, report)
    return Reindexed(videos=len(folders), total_rows=total, store=store.name)


def _flush(store: Any, pending: dict[str, list[ChunkRow]], report: Any) -> int:
    """Write ``pending`` in one bulk upsert, empty it; the store's row count after."""
    total = 0
    for result in store.upsert_videos(pending):
        total = result.total
        if report is not None:
            report(result.video_id, result.after, result.before)
    pending.clear()
    return total


def _reindex_from_objects(settings: PipelineSettings, store: Any, batch_rows: int,
                          report: Any) -> Reindexed:
    """:func:`reindex` from the bucket alone: each video's small files are checked out to a
    scratch folder, embedded and dropped; its media never leaves the bucket."""
    import shutil

    from scribeflow.core.objects import checkout, new_scratch, open_storage

    storage = open_storage(settings.data_url)
    storage.check()
    names = storage.folders("videos")
    scratch = new_scratch(settings.data_dir, "reindex")
    pending: dict[str, list[ChunkRow]] = {}
    total = videos = 0
    try:
        with store.bulk_session():
            for name in names:
                folder = scratch / name
                if "document_chunks.json" not in checkout(storage, f"videos/{name}", folder):
                    continue
                video_id, rows = embed_video(str(folder), settings)
                shutil.rmtree(folder)
                pending[video_id] = rows
                videos += 1
                if sum(len(r) for r in pending.values()) >= batch_rows:
                    total = _flush(store, pending, report)
            if pending:
                total = _flush(store, pending, report)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return Reindexed(videos=videos, total_rows=total, store=store.name)


