"""The store contract, run against both backends: Parquet and PostgreSQL + pgvector."""

from __future__ import annotations

import math
from dataclasses import replace

import psycopg
import pytest

from scribeflow.core.records import ChunkRow, SearchFilters
from scribeflow.index.ranking import KEYWORD_WEIGHT
from scribeflow.index.store.base import StoreMismatch
from scribeflow.index.store.parquet import ParquetStore
from scribeflow.index.store.pgvector import PgvectorStore
from scribeflow.pipeline.rows import chunk_id


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
        yield ParquetStore(tmp_path / "chunks")
        return
    store = PgvectorStore(request.getfixturevalue("pgvector_dsn"))
    yield store
    store.close()


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


def upsert_one_passage(store, n: int, index: int, text: str, angle_of: int) -> str:
    """``n`` filler rows of video "a", row ``index`` holding ``text`` with the vector of
    ``unit_vector(angle_of)``."""
    texts = [f"filler sentence number {i}" for i in range(n)]
    texts[index] = text
    video = rows("a", n, texts=texts)
    video[index] = replace(video[index], vector=unit_vector(angle_of))
    store.upsert_video("a", video)
    return text


PART = "the part number is XJ-4471 from Kowalczyk Industries"


def test_keyword_ranking_finds_exact_names_and_numbers(store):
    upsert_one_passage(store, 12, 9, PART, angle_of=1)  # as close in meaning as chunk 1
    # the query vector points at chunk 0; chunk 9 is close, and its words match exactly
    hits = search(store, unit_vector(0), "XJ-4471 Kowalczyk", k=3)
    assert "XJ-4471" in hits[0].text and hits[1].start == 0.0
    assert hits[0].score == pytest.approx(math.cos(0.3) + KEYWORD_WEIGHT, abs=1e-4)
    # stop words alone do not lift a passage: "the" and "is" match chunk 9 only
    assert search(store, unit_vector(0), "the is", k=1)[0].start == 0.0


def test_keywords_match_any_word_of_a_question(store):
    text = upsert_one_passage(store, 6, 3, "Do you remember the day I fetched you from that "
                                           "ditch", angle_of=1)
    # two of its words are in chunk 3 ("remembering" as "remember" on pgvector), the others
    # nowhere: a question in words of its own still finds it
    hits = search(store, unit_vector(0), "remembering the day he rescued her from a trench", k=2)
    assert hits[0].text == text and hits[0].score > hits[1].score


def test_hits_carry_the_query_similarity_however_they_were_found(store):
    upsert_one_passage(store, 12, 9, PART, angle_of=3)
    # two vector candidates (chunks 0 and 1); chunk 9 is found by its words alone
    hits = store.search(unit_vector(0), "XJ-4471 Kowalczyk", 3, model="m",
                        filters=SearchFilters(), candidates=2)
    assert sorted(int(h.start) // 10 for h in hits) == [0, 1, 9]
    angles = {0: 0.0, 1: 0.3, 9: 0.9}
    for hit in hits:
        assert hit.similarity == pytest.approx(math.cos(angles[int(hit.start) // 10]), abs=1e-4)


def test_passages_under_the_similarity_floor_are_left_out_unless_nothing_else_matches(store):
    store.upsert_video("a", rows("a", 12))  # chunk i at angle 0.3 i from the query
    hits = search(store, unit_vector(0), "nothing", k=12)
    assert [int(h.start) // 10 for h in hits] == [0, 1, 2, 3, 4]  # cos(1.5) < the floor
    assert not any(h.weak for h in hits)
    weak = search(store, (0.0, 0.0, 1.0, 0.0), "", k=3)  # orthogonal to every chunk
    assert len(weak) == 3 and all(h.weak and h.similarity == 0 for h in weak)


def older_version(store, column: str):
    """``store`` as a version before rows had ``column``: its files or its table without it."""
    if isinstance(store, ParquetStore):
        import polars as pl

        for path in store.path.glob("*.parquet"):
            pl.read_parquet(path).drop(column).write_parquet(path)
        return ParquetStore(store.path)
    with psycopg.connect(store.dsn, autocommit=True) as conn:
        conn.execute(f"ALTER TABLE scribeflow_chunks DROP COLUMN {column}")
    return PgvectorStore(store.dsn)


def test_rows_of_a_store_made_before_moments_still_answer(store, tmp_path):
    store.upsert_video("a", rows("a", 3))
    store = older_version(store, "moments")
    hits = search(store, unit_vector(1), "chunk")
    assert hits[0].start == hits[0].unit_start == 10.0 and hits[0].moment_offset == 0
    assert [r.moments for r in store.video_rows("a")] == [(), (), ()]


def test_hits_show_their_speakers_and_a_speaker_filter_keeps_theirs(store):
    heard = [("Speaker 1",), ("Speaker 1", "Speaker 2"), ("Speaker 2",), ()]
    store.upsert_video("a", [replace(r, speakers=s) for r, s in zip(rows("a", 4), heard, strict=True)])
    store.upsert_video("b", rows("b", 2, offset=1))  # one voice: nobody labelled
    hits = {h.id: h.speakers for h in search(store, unit_vector(1), "chunk")}
    assert hits[chunk_id("a", 1, 0)] == ("Speaker 1", "Speaker 2")
    assert hits[chunk_id("b", 0, 0)] == () and hits[chunk_id("a", 3, 0)] == ()
    second = search(store, unit_vector(0), "chunk", speaker="Speaker 2")
    assert sorted(h.text for h in second) == ["a chunk 1 about nothing", "a chunk 2 about nothing"]
    assert search(store, unit_vector(0), "chunk", speaker="Speaker 3") == []
    assert search(store, unit_vector(0), "chunk", speaker="Speaker 1", video_id="b") == []
    assert [r.speakers for r in store.video_rows("a")] == heard


def test_a_store_made_before_speakers_answers_and_gains_them_on_the_next_write(store):
    store.upsert_video("a", rows("a", 2))
    store = older_version(store, "speakers")
    assert [h.speakers for h in search(store, unit_vector(1), "chunk")] == [(), ()]
    assert search(store, unit_vector(1), "chunk", speaker="Speaker 1") == []
    assert [r.speakers for r in store.video_rows("a")] == [(), ()]
    store.upsert_video("b", [replace(r, speakers=("Speaker 2",)) for r in rows("b", 1)])
    (hit,) = search(store, unit_vector(0), "chunk", speaker="Speaker 2")
    assert hit.video_id == "b" and hit.speakers == ("Speaker 2",)
    assert store.count() == 3


def test_filter_values_are_data_not_sql(store):
    store.upsert_video("a", rows("a", 3))
    for value in ("Chan' OR '1'='1", "x'; DROP TABLE scribeflow_chunks; --", 'a"b\\c%_'):
        assert search(store, unit_vector(0), value, channel=value) == []
        assert search(store, unit_vector(0), value, video_id=value) == []
        assert search(store, unit_vector(0), value, speaker=value) == []
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
    from support.disk import digests

    store = ParquetStore(tmp_path / "chunks")
    store.upsert_video("a", rows("a", 2))
    before = digests(tmp_path)
    store.upsert_video("silent", [])
    assert digests(tmp_path) == before


def test_parquet_upsert_writes_only_that_videos_file(tmp_path):
    """One file per video: re-upserting a video replaces its file and leaves the others'
    bytes and inodes alone, and removing a video's rows removes its file."""
    import polars as pl

    store = ParquetStore(tmp_path / "chunks")
    store.upsert_videos({"a": rows("a", 3), "b": rows("b", 2)})
    files = {p.name: p.stat().st_ino for p in store.path.iterdir()}
    assert len(files) == 2
    store.upsert_video("a", rows("a", 1, texts=["a new text"]))
    after = {p.name: p.stat().st_ino for p in store.path.iterdir()}
    kept = [n for n in files if n.startswith("b-")]
    assert after[kept[0]] == files[kept[0]] and len(after) == 2
    assert sorted(pl.read_parquet(store.path / "*.parquet")["text"]) == [
        "a new text", "b chunk 0 about nothing", "b chunk 1 about nothing"]
    assert store.upsert_video("a", []).total == 2
    assert [p.name for p in store.path.iterdir()] == kept


def test_parquet_ignores_and_removes_a_crashed_writes_leftovers(tmp_path):
    store = ParquetStore(tmp_path / "chunks")
    store.upsert_video("a", rows("a", 2))
    (store.path / "a-000000000000.parquet").write_bytes(b"half a file")  # crashed before
    (store.path / ".b-1.parquet.x.tmp").write_bytes(b"temp")            # the manifest
    assert store.count() == 2 and len(search(store, unit_vector(0))) == 2
    store.upsert_video("b", rows("b", 1))
    names = sorted(p.name for p in store.path.iterdir())
    assert len(names) == 2 and all(n.endswith(".parquet") and n[0] in "ab" for n in names)
    assert store.video_ids() == {"a", "b"}
    (store.path / "c-000000000000.parquet").write_bytes(b"one left over")
    store.upsert_video("a", rows("a", 2))
    assert sorted(p.name for p in store.path.iterdir()) == names


def test_parquet_store_of_one_file_is_split_into_videos(tmp_path):
    """Stores written before per-video files (``chunks.parquet``) keep every row."""
    import numpy as np
    import polars as pl

    from scribeflow.index.store.parquet_frames import _frame

    legacy = _frame(rows("a", 3) + rows("b", 2)).drop("language")  # the oldest layout
    legacy = legacy.with_columns(pl.Series("vector", np.asarray(
        legacy["vector"].to_list()).tolist()))                     # vectors as lists
    legacy.write_parquet(tmp_path / "chunks.parquet")
    store = ParquetStore(tmp_path / "chunks")
    assert store.count() == 5 and store.count("b") == 2
    assert not (tmp_path / "chunks.parquet").exists()
    assert search(store, unit_vector(1), k=1)[0].text == "a chunk 1 about nothing"
    assert store.upsert_video("b", rows("b", 1)).total == 4


def test_parquet_search_sees_writes_of_another_instance(tmp_path):
    store = ParquetStore(tmp_path / "chunks")
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
    from scribeflow.index.store.pg_schema import StoreUnavailable

    store = PgvectorStore("postgresql://scribe:s3cret-pw@127.0.0.1:1/vectors", connect_timeout=2)
    with pytest.raises(StoreUnavailable) as info:
        store.count()
    message = str(info.value)
    assert message.startswith("cannot reach PostgreSQL at 127.0.0.1:1/vectors: ")
    assert "s3cret-pw" not in message and "\n" not in message


def test_pgvector_bulk_write_rebuilds_the_index_and_replaces_videos(pgvector_dsn):
    import psycopg

    from scribeflow.index.store.pg_schema import HNSW_INDEX
    from scribeflow.index.store.pgvector import BULK_ROWS

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


def test_pgvector_bulk_write_of_some_or_all_videos_keeps_the_rest(pgvector_dsn):
    """A bulk write of every stored video (a reindex) empties the table with TRUNCATE; one
    of only some videos deletes just theirs."""
    from scribeflow.index.store.pgvector import BULK_ROWS

    store = PgvectorStore(pgvector_dsn)
    store.upsert_video("keep", rows("keep", 4))
    batches = {f"v{i:04d}": rows(f"v{i:04d}", 50) for i in range(BULK_ROWS // 50 + 1)}
    store.upsert_videos(batches)  # some: "keep" stays
    assert store.count("keep") == 4 and store.count() == 4 + len(batches) * 50
    again = {**batches, "keep": rows("keep", 2)}
    results = store.upsert_videos(again)  # all of them: the reindex case
    assert {r.video_id: r.before for r in results}["keep"] == 4
    assert results[-1].total == store.count() == 2 + len(batches) * 50
    assert store.count("keep") == 2
    assert search(store, unit_vector(1), k=1, video_id="keep")[0].text == "keep chunk 1 about nothing"


def _indexes(dsn):
    import psycopg

    with psycopg.connect(dsn) as conn:
        return {r[0] for r in conn.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'scribeflow_chunks'")}


def test_pgvector_bulk_session_builds_the_indexes_once_at_its_end(pgvector_dsn):
    """``reindex`` writes in batches inside a bulk session: no batch goes into a live graph;
    the indexes are back at the end, also when the session fails, and a write after a
    session that died builds them again."""
    import psycopg

    from scribeflow.index.store.pg_schema import GIN_INDEX, HNSW_INDEX

    store = PgvectorStore(pgvector_dsn)
    store.upsert_video("a", rows("a", 3))
    with store.bulk_session():
        for video in ("a", "b", "c"):
            store.upsert_videos({video: rows(video, 5)})
            assert not {HNSW_INDEX, GIN_INDEX} & _indexes(pgvector_dsn)
        assert search(store, unit_vector(2), k=1, video_id="b")[0].text == "b chunk 2 about nothing"
    assert {HNSW_INDEX, GIN_INDEX} <= _indexes(pgvector_dsn)
    assert store.count() == 15
    with pytest.raises(RuntimeError, match="embedding failed"), store.bulk_session():
        store.upsert_videos({"d": rows("d", 2)})
        raise RuntimeError("embedding failed")
    assert {HNSW_INDEX, GIN_INDEX} <= _indexes(pgvector_dsn) and store.count() == 17
    with psycopg.connect(pgvector_dsn, autocommit=True) as conn:  # a session killed midway
        conn.execute(f"DROP INDEX {HNSW_INDEX}")
        conn.execute(f"DROP INDEX {GIN_INDEX}")
    PgvectorStore(pgvector_dsn).upsert_video("e", rows("e", 1))
    assert {HNSW_INDEX, GIN_INDEX} <= _indexes(pgvector_dsn)


def test_index_build_memory_grows_with_the_rows(monkeypatch):
    from scribeflow.index.store import pg_schema

    monkeypatch.delenv("SCRIBEFLOW_PG_BUILD_MEMORY", raising=False)
    assert pg_schema.build_memory(5_000, 384) == "64MB"  # PostgreSQL's own default
    # the 1M-row graph of 384-d vectors did not fit in 2 GB: the build went on disk
    assert int(pg_schema.build_memory(1_000_000, 384).removesuffix("MB")) > 3 * 1024
    monkeypatch.setenv("SCRIBEFLOW_PG_BUILD_MEMORY", "6GB")
    assert pg_schema.build_memory(1_000_000, 384) == "6GB"


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
    from scribeflow.index.store import pgvector_dsn_from_env

    monkeypatch.delenv("AIRFLOW_CONN_SCRIBEFLOW_PGVECTOR", raising=False)
    monkeypatch.setenv("SCRIBEFLOW_PGVECTOR_DSN", "postgresql://fallback/db")
    assert pgvector_dsn_from_env() == "postgresql://fallback/db"
    monkeypatch.setenv("AIRFLOW_CONN_SCRIBEFLOW_PGVECTOR", value)  # the connection wins,
    assert pgvector_dsn_from_env() == dsn  # as it does in the tasks


def test_pgvector_keywords_follow_each_rows_language(pgvector_dsn):
    """English rows are stemmed with stop words left out, German rows with German rules, so
    'running' finds 'runs', 'Ozeane' finds 'Ozean', and 'the' alone matches nothing."""
    store = PgvectorStore(pgvector_dsn)
    store.upsert_video("en", rows("en", 2, texts=["She runs the lesson about the water cycle",
                                                  "the the the of and to"]))
    store.upsert_video("de", rows("de", 1, language="de", offset=5,
                                  texts=["Die Sonne erwärmt den Ozean am Morgen"]))
    try:
        def keyword_hits(query, **filters):
            """The rows the keyword side found: with a query vector equally far from every
            row, they are the ones fused from both lists, scoring above the rest."""
            hits = search(store, (0.0, 0.0, 1.0, 0.0), query, k=3, **filters)
            top = max(h.score for h in hits)
            return [h.text for h in hits if h.score == top and top > min(h.score for h in hits)]

        assert keyword_hits("running lessons")[0] == "She runs the lesson about the water cycle"
        assert keyword_hits("Ozeane")[0] == "Die Sonne erwärmt den Ozean am Morgen"
        german = search(store, (0.0, 0.0, 1.0, 0.0), "Ozeane", language="de")
        vector_only = search(store, (0.0, 0.0, 1.0, 0.0), "zzz", language="de")
        assert german[0].score > vector_only[0].score  # parsed with German rules
        import psycopg

        with psycopg.connect(pgvector_dsn) as conn:
            matches = conn.execute(
                "SELECT count(*) FROM scribeflow_chunks, websearch_to_tsquery('english', 'the') q "
                "WHERE tsv @@ q").fetchone()[0]
            languages = dict(conn.execute(
                "SELECT language, config::text FROM scribeflow_languages").fetchall())
        assert matches == 0 and languages == {"en": "english", "de": "german"}
    finally:
        store.close()


def test_pgvector_store_of_simple_keywords_is_upgraded(pgvector_dsn):
    """Stores made when every row was indexed with ``simple`` get per-language keywords at
    the next write, and keep their rows."""
    import psycopg

    store = PgvectorStore(pgvector_dsn)
    store.upsert_video("en", rows("en", 2, texts=["She runs fast", "nothing here"]))
    store.close()
    with psycopg.connect(pgvector_dsn, autocommit=True) as conn:
        conn.execute("ALTER TABLE scribeflow_chunks DROP COLUMN tsv")
        conn.execute("ALTER TABLE scribeflow_chunks ADD COLUMN tsv tsvector GENERATED ALWAYS "
                     "AS (to_tsvector('simple', title || ' ' || text)) STORED")
        conn.execute("DROP TABLE scribeflow_languages")
    store = PgvectorStore(pgvector_dsn)
    try:
        store.upsert_video("other", rows("other", 1, offset=3))
        assert store.count() == 3
        assert search(store, (0.0, 0.0, 1.0, 0.0), "running", k=1)[0].text == "She runs fast"
    finally:
        store.close()


def test_video_rows_carry_content_hashes_and_vectors_on_request(store):
    hashed = [ChunkRow(**{**r.__dict__, "content_hash": f"h{r.chunk_index}"})
              for r in rows("v", 3)]
    store.upsert_video("v", list(reversed(hashed)))
    store.upsert_video("w", rows("w", 2))
    plain = store.video_rows("v")
    assert [(r.chunk_index, r.content_hash) for r in plain] == [(0, "h0"), (1, "h1"), (2, "h2")]
    assert all(len(r.vector) == 0 for r in plain)
    full = store.video_rows("v", vectors=True)
    assert [r.id for r in full] == [r.id for r in hashed]
    assert all(math.isclose(a, b, abs_tol=1e-6) for r, h in zip(full, hashed, strict=True)
               for a, b in zip(r.vector, h.vector, strict=True))
    assert full[0].url == hashed[0].url and full[0].title == "T v"
    assert [r.content_hash for r in store.video_rows("w")] == [None, None]
    assert store.video_rows("nothing-here") == []


def test_parquet_files_without_content_hashes_read_as_none(tmp_path):
    import polars as pl

    store = ParquetStore(tmp_path / "chunks")
    store.upsert_video("v", rows("v", 2))
    path = next((tmp_path / "chunks").glob("*.parquet"))
    pl.read_parquet(path).drop("content_hash").write_parquet(path)  # a file of an older version
    assert [r.content_hash for r in store.video_rows("v")] == [None, None]
    assert store.count("v") == 2 and store.search(unit_vector(0), "chunk", model="m")


def test_pgvector_store_without_content_hashes_gets_the_column(pgvector_dsn):
    import psycopg

    PgvectorStore(pgvector_dsn).upsert_video("v", rows("v", 2))
    with psycopg.connect(pgvector_dsn, autocommit=True) as conn:
        conn.execute("ALTER TABLE scribeflow_chunks DROP COLUMN content_hash")
    store = PgvectorStore(pgvector_dsn)  # a store made by an older version
    assert [r.content_hash for r in store.video_rows("v")] == [None, None]
    store.upsert_video("v", [ChunkRow(**{**r.__dict__, "content_hash": "h"})
                             for r in rows("v", 2)])
    assert [r.content_hash for r in store.video_rows("v")] == ["h", "h"]


def test_parquet_concurrent_searches_get_the_hits_each_would_get_alone(tmp_path):
    """Searches that arrive together share one matrix product (P11); each keeps its own
    query's ranking, filters and similarities. (Random vectors: a batched product may round
    differently in the last bit, which would reorder exact ties.)"""
    import dataclasses
    import threading

    import numpy as np

    from scribeflow.index.store.parquet import similarity_batching

    rng = np.random.default_rng(7)

    def random_unit(n):
        v = rng.standard_normal((n, 8))
        return [tuple(float(x) for x in row / np.linalg.norm(row)) for row in v]

    store = ParquetStore(tmp_path / "chunks")
    for video, channel in (("a", "Chan"), ("b", "Other")):
        store.upsert_video(video, [dataclasses.replace(r, vector=v) for r, v in
                                   zip(rows(video, 20, dim=8, channel=channel), random_unit(20),
                                       strict=True)])
    asks = [(vector, {"channel": "Other"} if i % 3 == 0 else {})
            for i, vector in enumerate(random_unit(16))]
    alone = [search(store, vector, k=5, **filters) for vector, filters in asks]
    before = similarity_batching()
    together = [None] * len(asks)
    start = threading.Barrier(len(asks))

    def ask(i):
        start.wait()
        together[i] = search(store, asks[i][0], k=5, **asks[i][1])

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(asks))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for solo, batched in zip(alone, together, strict=True):
        assert [h.id for h in batched] == [h.id for h in solo]
        assert [h.similarity for h in batched] == pytest.approx([h.similarity for h in solo],
                                                                 abs=1e-5)
    assert all(h.channel == "Other" for i in range(0, 16, 3) for h in together[i])
    assert similarity_batching()["requests"] - before["requests"] == len(asks)
