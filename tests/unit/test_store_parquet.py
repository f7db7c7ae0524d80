import math

import polars as pl
import pytest

from scribeflow.records import ChunkRow
from scribeflow.steps import chunk_id
from scribeflow.store.base import StoreMismatch
from scribeflow.store.parquet import ParquetStore


def unit_vector(i: int, dim: int = 4) -> tuple[float, ...]:
    angle = i * 0.3
    v = [math.cos(angle), math.sin(angle)] + [0.0] * (dim - 2)
    return tuple(v)


def rows(video: str, n: int, model: str = "m", dim: int = 4, offset: int = 0) -> list[ChunkRow]:
    return [
        ChunkRow(id=chunk_id(video, i, 0), video_id=video, chunk_index=i, unit_index=0,
                 start=10.0 * i, end=10.0 * i + 9, text=f"{video} chunk {i}", title=f"T {video}",
                 channel=None, upload_date=None, url=f"http://x/{video}#t={10 * i}", model=model,
                 vector=unit_vector(i + offset, dim))
        for i in range(n)
    ]


def test_upsert_is_idempotent(tmp_path):
    store = ParquetStore(tmp_path / "chunks.parquet")
    first = store.upsert_video("a", rows("a", 3))
    assert (first.before, first.after, first.total) == (0, 3, 3)
    again = store.upsert_video("a", rows("a", 3))
    assert (again.before, again.after, again.total) == (3, 3, 3)
    assert pl.read_parquet(store.path)["id"].n_unique() == 3


def test_upsert_replaces_a_video_whole_and_keeps_others(tmp_path):
    store = ParquetStore(tmp_path / "chunks.parquet")
    store.upsert_video("a", rows("a", 5))
    store.upsert_video("b", rows("b", 2))
    result = store.upsert_video("a", rows("a", 2))  # re-chunked: fewer rows now
    assert (result.before, result.after, result.total) == (5, 2, 4)
    assert store.count("a") == 2 and store.count("b") == 2


def test_rows_must_belong_to_the_video(tmp_path):
    store = ParquetStore(tmp_path / "chunks.parquet")
    with pytest.raises(ValueError):
        store.upsert_video("a", rows("b", 1))
    assert not store.path.exists()


def test_search_orders_by_cosine_and_filters_video(tmp_path):
    store = ParquetStore(tmp_path / "chunks.parquet")
    store.upsert_video("a", rows("a", 5))
    store.upsert_video("b", rows("b", 5, offset=10))
    hits = store.search(unit_vector(2), k=3, model="m")
    assert [h.text for h in hits][0] == "a chunk 2"
    assert hits[0].score == pytest.approx(1.0, abs=1e-5)
    assert hits[0].score >= hits[1].score >= hits[2].score
    only_b = store.search(unit_vector(2), k=10, model="m", video_id="b")
    assert {h.video_id for h in only_b} == {"b"} and len(only_b) == 5
    assert store.search(unit_vector(2), k=3, model="m", video_id="zzz") == []


def test_search_sees_new_writes(tmp_path):
    store = ParquetStore(tmp_path / "chunks.parquet")
    assert store.search(unit_vector(0), k=3, model="m") == []
    store.upsert_video("a", rows("a", 1))
    assert len(store.search(unit_vector(0), k=3, model="m")) == 1
    other = ParquetStore(store.path)
    other.upsert_video("b", rows("b", 2))
    assert len(store.search(unit_vector(0), k=3, model="m")) == 3


def test_other_model_or_dimension_is_refused_and_store_kept(tmp_path):
    store = ParquetStore(tmp_path / "chunks.parquet")
    store.upsert_video("a", rows("a", 2))
    before = store.path.read_bytes()
    with pytest.raises(StoreMismatch, match="holds 4-d vectors of m"):
        store.upsert_video("b", rows("b", 2, model="other"))
    with pytest.raises(StoreMismatch):
        store.upsert_video("b", rows("b", 2, dim=8))
    with pytest.raises(StoreMismatch):
        store.search(unit_vector(0), k=1, model="other")
    assert store.path.read_bytes() == before


def test_empty_upsert_of_new_video_leaves_file_untouched(tmp_path):
    store = ParquetStore(tmp_path / "chunks.parquet")
    store.upsert_video("a", rows("a", 2))
    mtime = store.path.stat().st_mtime_ns
    result = store.upsert_video("silent", [])
    assert (result.after, result.total) == (0, 2)
    assert store.path.stat().st_mtime_ns == mtime
