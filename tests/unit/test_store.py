"""The store contract, run against both backends: Parquet and PostgreSQL + pgvector."""

from __future__ import annotations

import math

import pytest

from scribeflow.records import ChunkRow, SearchFilters
from scribeflow.steps import chunk_id
from scribeflow.store.base import StoreMismatch
from scribeflow.store.parquet import ParquetStore
from scribeflow.store.pgvector import PgvectorStore


def unit_vector(i: int, dim: int = 4) -> tuple[float, ...]:
    angle = i * 0.3
    return (math.cos(angle), math.sin(angle)) + (0.0,) * (dim - 2)


def rows(video: str, n: int, model: str = "m", dim: int = 4, offset: int = 0,
         channel: str | None = "Chan", date: str | None = "2024-05-01",
         language: str | None = "en", texts: list[str] | None = None) -> list[ChunkRow]:
    return [
        ChunkRow(id=chunk_id(video, i, 0), video_id=video, chunk_index=i, unit_index=0,
                 start=10.0 * i, end=10.0 * i + 9,
                 text=texts[i] if texts else f"{video} chunk {i} about nothing",
                 title=f"T {video}", channel=channel, upload_date=date, language=language,
                 url=f"http://x/{video}#t={10 * i}", model=model,
                 vector=unit_vector(i + offset, dim))
        for i in range(n)
    ]


@pytest.fixture(params=["parquet", "pgvector"])
def store(request, tmp_path):
    if request.param == "parquet":
        return ParquetStore(tmp_path / "chunks.parquet")
    return PgvectorStore(request.getfixturevalue("pgvector_dsn"))


def search(store, vector, query="", k=10, **filters):
    return store.search(vector, query, k, model="m", filters=SearchFilters(**filters))


def test_upsert_is_idempotent(store):
    first = store.upsert_video("a", rows("a", 3))
    assert (first.before, first.after, first.total) == (0, 3, 3)
    again = store.upsert_video("a", rows("a", 3))
    assert (again.before, again.after, again.total) == (3, 3, 3)
    assert store.count() == 3 and store.count("a") == 3


def test_upsert_replaces_a_video_whole_and_keeps_others(store):
    store.upsert_video("a", rows("a", 5))
    store.upsert_video("b", rows("b", 2))
    result = store.upsert_video("a", rows("a", 2))  # re-chunked: fewer rows now
    assert (result.before, result.after, result.total) == (5, 2, 4)
    assert store.count("a") == 2 and store.count("b") == 2


def test_rows_must_belong_to_the_video(store):
    with pytest.raises(ValueError):
        store.upsert_video("a", rows("b", 1))
    assert store.count() == 0


def test_vector_ranking_and_filters(store):
    store.upsert_video("a", rows("a", 5))
    store.upsert_video("b", rows("b", 5, offset=10, channel="Other", date="2023-01-02",
                                 language="de"))
    hits = search(store, unit_vector(2), k=3)
    assert hits[0].text == "a chunk 2 about nothing"
    assert hits[0].score >= hits[1].score >= hits[2].score
    assert hits[0].url == "http://x/a#t=20" and hits[0].channel == "Chan"
    assert {h.video_id for h in search(store, unit_vector(2), video_id="b")} == {"b"}
    assert {h.video_id for h in search(store, unit_vector(2), channel="Other")} == {"b"}
    assert {h.video_id for h in search(store, unit_vector(2), language="de")} == {"b"}
    assert {h.video_id for h in search(store, unit_vector(2), date_from="2024-01-01")} == {"a"}
    assert {h.video_id for h in search(store, unit_vector(2), date_to="2023-12-31")} == {"b"}
    assert search(store, unit_vector(2), video_id="zzz") == []


def test_keyword_ranking_finds_exact_names_and_numbers(store):
    texts = [f"filler sentence number {i}" for i in range(12)]
    texts[9] = "the part number is XJ-4471 from Kowalczyk Industries"
    store.upsert_video("a", rows("a", 12, texts=texts))
    # the query vector points at chunk 0; only the keywords point at chunk 9
    hits = search(store, unit_vector(0), "XJ-4471 Kowalczyk", k=3)
    assert "XJ-4471" in hits[0].text
    assert search(store, unit_vector(0), "", k=3)[0].text == texts[0]


def test_filter_values_are_data_not_sql(store):
    store.upsert_video("a", rows("a", 3))
    for value in ("Chan' OR '1'='1", "x'; DROP TABLE scribeflow_chunks; --", 'a"b\\c%_'):
        assert search(store, unit_vector(0), value, channel=value) == []
        assert search(store, unit_vector(0), value, video_id=value) == []
    assert store.count() == 3


def test_other_model_or_dimension_is_refused_and_store_kept(store):
    store.upsert_video("a", rows("a", 2))
    with pytest.raises(StoreMismatch, match="4-d vectors of m"):
        store.upsert_video("b", rows("b", 2, model="other"))
    with pytest.raises(StoreMismatch):
        store.upsert_video("b", rows("b", 2, dim=8))
    with pytest.raises(StoreMismatch):
        store.search(unit_vector(0), "", 1, model="other")
    assert store.count() == 2 and store.count("b") == 0


def test_empty_upsert_of_new_video_changes_nothing(store):
    store.upsert_video("a", rows("a", 2))
    result = store.upsert_video("silent", [])
    assert (result.after, result.total) == (0, 2)
    assert store.count() == 2


def test_empty_store_searches_to_nothing(store):
    assert search(store, unit_vector(0), "anything") == []
    assert store.count() == 0


def test_parquet_untouched_by_empty_upsert(tmp_path):
    store = ParquetStore(tmp_path / "chunks.parquet")
    store.upsert_video("a", rows("a", 2))
    mtime = store.path.stat().st_mtime_ns
    store.upsert_video("silent", [])
    assert store.path.stat().st_mtime_ns == mtime


def test_parquet_search_sees_writes_of_another_instance(tmp_path):
    store = ParquetStore(tmp_path / "chunks.parquet")
    store.upsert_video("a", rows("a", 1))
    assert len(search(store, unit_vector(0))) == 1
    ParquetStore(store.path).upsert_video("b", rows("b", 2))
    assert len(search(store, unit_vector(0))) == 3


def test_pgvector_failed_write_changes_nothing(pgvector_dsn):
    store = PgvectorStore(pgvector_dsn)
    store.upsert_video("a", rows("a", 3))
    broken = rows("a", 2)
    broken[1] = ChunkRow(**{**broken[1].__dict__, "vector": (float("nan"), 0.0, 0.0, 0.0)})
    import psycopg

    with pytest.raises(psycopg.Error):
        store.upsert_video("a", broken)
    assert store.count("a") == 3


def test_pgvector_schema_has_hnsw_cosine_and_fulltext(pgvector_dsn):
    import psycopg

    PgvectorStore(pgvector_dsn).upsert_video("a", rows("a", 1))
    with psycopg.connect(pgvector_dsn) as conn:
        indexes = dict(conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'scribeflow_chunks'"
        ).fetchall())
        dim = conn.execute("SELECT atttypmod FROM pg_attribute WHERE attname = 'embedding' "
                           "AND attrelid = 'scribeflow_chunks'::regclass").fetchone()[0]
    assert "USING hnsw (embedding vector_cosine_ops)" in indexes["scribeflow_chunks_embedding_hnsw"]
    assert "USING gin (tsv)" in indexes["scribeflow_chunks_tsv"]
    assert dim == 4


def test_pgvector_unreachable_names_host_not_password():
    from scribeflow.store.pgvector import StoreUnavailable

    store = PgvectorStore("postgresql://scribe:s3cret-pw@127.0.0.1:1/vectors", connect_timeout=2)
    with pytest.raises(StoreUnavailable) as info:
        store.count()
    message = str(info.value)
    assert message.startswith("cannot reach PostgreSQL at 127.0.0.1:1/vectors: ")
    assert "s3cret-pw" not in message and "\n" not in message


def test_pgvector_bulk_write_rebuilds_the_index_and_replaces_videos(pgvector_dsn):
    import psycopg

    from scribeflow.store.pgvector import BULK_ROWS, HNSW_INDEX

    store = PgvectorStore(pgvector_dsn)
    store.upsert_video("v0000", rows("v0000", 3))
    batches = {f"v{i:04d}": rows(f"v{i:04d}", 50) for i in range(BULK_ROWS // 50 + 1)}
    results = store.upsert_videos(batches)
    assert results[0].before == 3 and results[0].after == 50
    assert results[-1].total == len(batches) * 50 == store.count()
    with psycopg.connect(pgvector_dsn) as conn:
        names = [r[0] for r in conn.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'scribeflow_chunks'")]
    assert HNSW_INDEX in names
    assert search(store, unit_vector(7), k=1, video_id="v0003")[0].text == "v0003 chunk 7 about nothing"


def test_video_ids_are_the_stored_videos(store):
    assert store.video_ids() == set()
    store.upsert_video("a", rows("a", 2))
    store.upsert_video("b", rows("b", 1))
    assert store.video_ids() == {"a", "b"}
    store.upsert_video("a", [])
    assert store.video_ids() == {"b"}


@pytest.mark.parametrize(("value", "dsn"), [
    ("postgresql://u:p%40ss@db.example:5433/vectors", "postgresql://u:p%40ss@db.example:5433/vectors"),
    ("postgres://u:p@db/v", "postgresql://u:p@db/v"),
    ('{"conn_type": "postgres", "host": "db", "login": "u", "password": "p@ss", "port": 5433, '
     '"schema": "vectors"}', "postgresql://u:p%40ss@db:5433/vectors"),
])
def test_the_cli_finds_the_pgvector_connection_the_tasks_use(monkeypatch, value, dsn):
    from scribeflow.store import pgvector_dsn_from_env

    monkeypatch.delenv("AIRFLOW_CONN_SCRIBEFLOW_PGVECTOR", raising=False)
    monkeypatch.setenv("SCRIBEFLOW_PGVECTOR_DSN", "postgresql://fallback/db")
    assert pgvector_dsn_from_env() == "postgresql://fallback/db"
    monkeypatch.setenv("AIRFLOW_CONN_SCRIBEFLOW_PGVECTOR", value)  # the connection wins,
    assert pgvector_dsn_from_env() == dsn  # as it does in the tasks
