"""Feed videos stored under their media file's name move to their entries' feed-and-guid
keys: folder, ids inside its files and rows, on both stores; a second run moves nothing."""

from __future__ import annotations

import numpy as np

from scribeflow.core.files import DataPaths, read_json, write_json_atomic
from scribeflow.core.records import ChunkRow
from scribeflow.index.store import open_store
from scribeflow.pipeline.rekey import migrate_feed_ids, rekeys
from scribeflow.pipeline.rows import chunk_id
from scribeflow.sources.listing import Entry, feed_entry_key, generic_key

FEED = "http://127.0.0.1:9/first.xml"
MEDIA = "http://127.0.0.1:9/a/episode1.mp3"


def stored_video(data: DataPaths, store, video_id: str, url: str, units: int = 3) -> list[ChunkRow]:
    video = data.video(video_id)
    write_json_atomic(video.metadata, {"video_id": video_id, "title": "Episode 1",
                                       "webpage_url": url, "source_url": url})
    write_json_atomic(video.transcript, {"video_id": video_id, "language": "en",
                                         "segments": []})
    video.document.write_text("# Episode 1\n\nBees make honey.\n")
    rng = np.random.default_rng(7)
    rows = []
    for u in range(units):
        vector = rng.normal(size=384).astype("float32")
        rows.append(ChunkRow(
            id=chunk_id(video_id, 0, u), video_id=video_id, chunk_index=0, unit_index=u,
            start=float(u), end=float(u + 1), text=f"Bees make honey, part {u}.",
            title="Episode 1", channel=None, upload_date=None, language="en", url=url + "#t=0",
            model="all-MiniLM-L6-v2", vector=vector / np.linalg.norm(vector),
            content_hash=f"hash-{u}"))
    store.upsert_video(video_id, rows)
    return rows


def entry(key: str, url: str = MEDIA) -> Entry:
    return Entry(key=key, url=url, title="Episode 1", published=None)


def test_a_stored_feed_video_moves_to_its_entrys_key_with_the_same_rows(store_settings):
    data = DataPaths(store_settings.data_dir)
    store = open_store(store_settings)
    old = generic_key(MEDIA)
    before = stored_video(data, store, old, MEDIA)
    other = stored_video(data, store, "youtube-abc", "https://www.youtube.com/watch?v=abc", 2)
    new = feed_entry_key(FEED, "a/episode1.mp3", MEDIA)
    listed = [entry(new), entry("youtube-abc", "https://www.youtube.com/watch?v=abc")]

    assert [r.new for r in migrate_feed_ids(listed, data, store, dry_run=True)] == [new]
    assert store.video_ids() == {old, "youtube-abc"}  # a dry run moves nothing

    (moved,) = migrate_feed_ids(listed, data, store)
    assert (moved.old, moved.new, moved.rows) == (old, new, 3)
    assert store.video_ids() == {new, "youtube-abc"} and store.count() == 5
    after = store.video_rows(new, vectors=True)
    assert [(r.text, r.start, r.content_hash, r.url) for r in after] == [
        (r.text, r.start, r.content_hash, r.url) for r in before]
    assert all(np.allclose(a.vector, b.vector, atol=1e-6) for a, b in zip(after, before, strict=True))
    assert [r.id for r in after] == [chunk_id(new, 0, u) for u in range(3)]
    assert not data.video(old).root.exists()
    assert read_json(data.video(new).metadata)["video_id"] == new
    assert read_json(data.video(new).transcript)["video_id"] == new
    assert data.video(new).document.read_text().startswith("# Episode 1")
    assert len(store.video_rows("youtube-abc")) == len(other)

    assert migrate_feed_ids(listed, data, store) == []  # again: nothing to move
    assert store.count() == 5


def test_a_half_done_move_is_completed_and_other_media_are_left_alone(store_settings):
    data = DataPaths(store_settings.data_dir)
    store = open_store(store_settings)
    old = generic_key(MEDIA)
    stored_video(data, store, old, MEDIA)
    new = feed_entry_key(FEED, "a/episode1.mp3", MEDIA)
    # a crash after the folder was copied: the next run finds the old folder and finishes
    data.video(new).root.mkdir(parents=True)
    write_json_atomic(data.video(new).metadata, {"video_id": new, "webpage_url": MEDIA})
    (moved,) = migrate_feed_ids([entry(new)], data, store)
    assert moved.rows == 3 and store.video_ids() == {new} and not data.video(old).root.exists()
    # a stored episode1 from another site's media is not this entry's video
    stored_video(data, store, old, "http://elsewhere.example/episode1.mp3")
    assert rekeys([entry(new)], data) == []
    assert store.video_ids() == {new, old}
