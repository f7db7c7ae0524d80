"""Feed videos stored under their old ids, moved to the ids their feed entries have now.

Before feed entries were keyed on their feed and ``guid``, a podcast episode was stored under
its media file's name (``generic-episode1``), so a second feed's ``episode1.mp3`` looked
already stored and was skipped. :func:`migrate_feed_ids` moves each such video, found by the
media URL its ``metadata.json`` names, to its entry's key (:func:`scribeflow.sources.listing.
feed_entry_key`): its folder, the ``video_id`` inside its files, and its rows (same texts,
times and vectors, with ids of the new key). The new rows are written before the old ones are
removed and the old folder goes last, so a crash leaves a state the next run completes; a
video already moved is left alone, so running it again changes nothing.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from scribeflow.core.files import DataPaths, VideoPaths, read_json, write_json_atomic
from scribeflow.pipeline.rows import chunk_id
from scribeflow.sources.listing import Entry, generic_key

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rekey:
    """One stored video to move: from its old id to its entry's key."""

    old: str
    new: str
    url: str
    #: Rows moved (0 in a dry run, or when the video had none).
    rows: int = 0


def rekeys(entries: Iterable[Entry], data: DataPaths) -> list[Rekey]:
    """The listed entries whose video is stored under the old id of its media file: a folder
    ``videos/<generic-name>`` whose metadata names the entry's media URL."""
    found = []
    for entry in entries:
        if not entry.url or entry.problem or not entry.key.startswith("generic-"):
            continue
        old = generic_key(entry.url)
        if old == entry.key or not data.video(old).metadata.exists():
            continue
        meta = read_json(data.video(old).metadata)
        if entry.url in (meta.get("source_url"), meta.get("webpage_url")):
            found.append(Rekey(old=old, new=entry.key, url=entry.url))
    return found


def migrate_feed_ids(entries: Iterable[Entry], data: DataPaths, store: Any,
                     dry_run: bool = False) -> list[Rekey]:
    """Move every video :func:`rekeys` finds; what was moved (or would be, in a dry run)."""
    done = []
    for rekey in rekeys(entries, data):
        done.append(rekey if dry_run else move_video(rekey, data, store))
    return done


def move_video(rekey: Rekey, data: DataPaths, store: Any) -> Rekey:
    """Copy the folder under the new id (files naming the old id rewritten), upsert the rows
    under the new id, remove the old rows, then the old folder."""
    old, new = data.video(rekey.old).root, data.video(rekey.new).root
    if not new.exists():
        scratch = new.with_name(f".{new.name}.moving")
        shutil.rmtree(scratch, ignore_errors=True)
        shutil.copytree(old, scratch)
        for path in scratch.rglob("*.json"):
            _rename_inside(path, rekey.old, rekey.new)
        scratch.rename(new)
    transcript = VideoPaths(new).transcript
    spoken = read_json(transcript).get("language") if transcript.exists() else None
    rows = [replace(r, video_id=rekey.new, id=chunk_id(
        rekey.new, r.chunk_index, r.unit_index, None if r.language == spoken else r.language))
        for r in store.video_rows(rekey.old, vectors=True)]
    if rows:  # one write: pgvector's is one transaction, Parquet's one locked update
        store.upsert_videos({rekey.new: rows, rekey.old: []})
    shutil.rmtree(old)
    log.info("moved %s to %s (%d rows)", rekey.old, rekey.new, len(rows))
    return replace(rekey, rows=len(rows))


def _rename_inside(path: Any, old: str, new: str) -> None:
    """A JSON file whose top-level ``video_id`` is ``old`` gets ``new``."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    if isinstance(value, dict) and value.get("video_id") == old:
        write_json_atomic(path, value | {"video_id": new})
