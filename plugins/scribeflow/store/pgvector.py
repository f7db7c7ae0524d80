"""The remote store: PostgreSQL with pgvector.

Schema, created on first use: the ``vector`` extension; ``scribeflow_store`` recording the
embedding model and dimension the store was built with (a mismatch is a clear
:class:`StoreMismatch`, never a corrupt table); ``scribeflow_chunks`` with a ``vector(dim)``
column under an HNSW cosine index and a generated ``tsvector`` under a GIN index for keyword
search. A video's rows are replaced in one transaction (delete, then binary COPY), so a
failure changes nothing; bulk writes rebuild the HNSW index inside that transaction. Passwords never reach messages or logs: errors name host, port and database.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from scribeflow.errors import ConfigError, ScribeflowError
from scribeflow.ranking import reciprocal_rank_fusion
from scribeflow.records import ChunkRow, SearchFilters, SearchHit
from scribeflow.store.base import StoreMismatch, UpsertResult, check_batches

TABLE = "scribeflow_chunks"
META = "scribeflow_store"
COLUMNS = ("id", "video_id", "chunk_index", "unit_index", "start_s", "end_s", "text", "title",
           "channel", "upload_date", "language", "url", "model", "embedding")
HIT_COLUMNS = "id, video_id, title, text, start_s, end_s, url, channel, upload_date, language"
HNSW_INDEX = f"{TABLE}_embedding_hnsw"
HNSW_DDL = (f"CREATE INDEX IF NOT EXISTS {HNSW_INDEX} ON {TABLE} "
            "USING hnsw (embedding vector_cosine_ops)")
#: A write of at least this many rows (and a quarter of the table) drops the HNSW index,
#: copies, and builds it again in the same transaction: about 7x faster than inserting into
#: the graph row by row (bench/store_bench.py). Searches wait for that transaction.
BULK_ROWS = 5_000
#: maintenance_work_mem of that build; the graph of 1M 384-d vectors needs about 2 GB to be
#: built in memory rather than on disk (SCRIBEFLOW_PG_BUILD_MEMORY to change it).
BUILD_MEMORY = os.environ.get("SCRIBEFLOW_PG_BUILD_MEMORY", "2GB")


class StoreUnavailable(ScribeflowError):
    """The database cannot be reached."""


def describe_dsn(dsn: str) -> str:
    """``host:port/dbname`` of a DSN, without user or password."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        info = conninfo_to_dict(dsn)
    except Exception:
        return "<unparseable DSN>"
    host = info.get("host") or "localhost"
    return f"{host}:{info.get('port') or 5432}/{info.get('dbname') or info.get('user') or ''}"


class PgvectorStore:
    name = "pgvector"

    def __init__(self, dsn: str, connect_timeout: int = 10, ef_search: int = 200):
        if not dsn:
            raise ConfigError("no pgvector database configured: set the scribeflow_pgvector "
                              "connection or SCRIBEFLOW_PGVECTOR_DSN")
        self.dsn = dsn
        self.where = describe_dsn(dsn)
        self.connect_timeout = connect_timeout
        self.ef_search = max(ef_search, 1)
        self._schema_ready: tuple[str, int] | None = None
        self._conn: Any = None
        self._lock = threading.RLock()

    @contextmanager
    def _connect(self) -> Iterator[Any]:
        """The store's connection, opened on first use and kept (one per store, used by one
        thread at a time); a broken one is dropped and the next call opens a new one."""
        import psycopg

        with self._lock:
            if self._conn is None or self._conn.closed or self._conn.broken:
                try:
                    self._conn = psycopg.connect(self.dsn, connect_timeout=self.connect_timeout,
                                                 autocommit=True)
                except psycopg.OperationalError as exc:
                    text = str(exc).strip()
                    reason = text.splitlines()[-1] if text else type(exc).__name__
                    raise StoreUnavailable(f"cannot reach PostgreSQL at {self.where}: "
                                           f"{reason.replace(self.dsn, '')}") from None
                self._conn.execute(f"SET hnsw.ef_search = {int(self.ef_search)}")
            try:
                yield self._conn
            except psycopg.OperationalError as exc:
                self.close()
                raise StoreUnavailable(f"lost PostgreSQL at {self.where}: "
                                       f"{str(exc).strip().splitlines()[-1]}") from None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _stored_model(self, conn: Any) -> tuple[str, int] | None:
        exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (META,)).fetchone()[0]
        if not exists:
            return None
        row = conn.execute(f"SELECT model, dim FROM {META} WHERE singleton").fetchone()
        return (row[0], int(row[1])) if row else None

    def _ensure_schema(self, conn: Any, model: str, dim: int) -> None:
        if self._schema_ready == (model, dim):
            return
        stored = self._stored_model(conn)
        if stored is not None and stored != (model, dim):
            raise StoreMismatch(f"pgvector store at {self.where} holds {stored[1]}-d vectors of "
                                f"{stored[0]}; this run embeds {dim}-d vectors with {model}")
        if stored is None:
            with conn.transaction():
                conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
                conn.execute(f"""
                    CREATE TABLE IF NOT EXISTS {META} (
                        singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
                        model text NOT NULL, dim integer NOT NULL)""")
                conn.execute(f"INSERT INTO {META} (model, dim) VALUES (%s, %s) "
                             "ON CONFLICT (singleton) DO NOTHING", (model, dim))
                conn.execute(f"""
                    CREATE TABLE IF NOT EXISTS {TABLE} (
                        id text PRIMARY KEY,
                        video_id text NOT NULL,
                        chunk_index integer NOT NULL,
                        unit_index integer NOT NULL,
                        start_s double precision NOT NULL,
                        end_s double precision NOT NULL,
                        text text NOT NULL,
                        title text NOT NULL,
                        channel text,
                        upload_date text,
                        language text,
                        url text NOT NULL,
                        model text NOT NULL,
                        embedding vector({int(dim)}) NOT NULL,
                        tsv tsvector GENERATED ALWAYS AS
                            (to_tsvector('simple', title || ' ' || text)) STORED)""")
                conn.execute(HNSW_DDL)
                conn.execute(f"CREATE INDEX IF NOT EXISTS {TABLE}_tsv ON {TABLE} USING gin (tsv)")
                conn.execute(f"CREATE INDEX IF NOT EXISTS {TABLE}_video ON {TABLE} (video_id)")
            stored = self._stored_model(conn)
            if stored != (model, dim):  # another writer created it first, with another model
                raise StoreMismatch(f"pgvector store at {self.where} holds {stored[1]}-d vectors "
                                    f"of {stored[0]}; this run embeds {dim}-d vectors with {model}")
        self._schema_ready = (model, dim)

    def upsert_video(self, video_id: str, rows: Sequence[ChunkRow]) -> UpsertResult:
        return self.upsert_videos({video_id: rows})[0]

    def upsert_videos(self, batches: Mapping[str, Sequence[ChunkRow]]) -> list[UpsertResult]:
        """Replace the videos' rows in one transaction: DELETE, then one binary COPY."""
        check_batches(batches)
        videos = list(batches)
        all_rows = [r for rows in batches.values() for r in rows]
        with self._connect() as conn:
            if all_rows:
                self._ensure_schema(conn, all_rows[0].model, len(all_rows[0].vector))
            elif self._stored_model(conn) is None:
                return [UpsertResult(video_id=v, before=0, after=0, total=0) for v in videos]
            _register_vector(conn)
            with conn.transaction():
                stored = conn.execute(f"SELECT count(*) FROM {TABLE}").fetchone()[0]
                bulk = len(all_rows) >= BULK_ROWS and len(all_rows) >= stored // 4
                if bulk:  # rebuilding beats inserting row by row into the HNSW graph
                    conn.execute(f"DROP INDEX IF EXISTS {HNSW_INDEX}")
                before = dict(conn.execute(
                    f"WITH gone AS (DELETE FROM {TABLE} WHERE video_id = ANY(%s) "
                    "RETURNING video_id) SELECT video_id, count(*) FROM gone GROUP BY video_id",
                    (videos,)).fetchall())
                with conn.cursor() as cur:
                    with cur.copy(f"COPY {TABLE} ({', '.join(COLUMNS)}) FROM STDIN "
                                  "WITH (FORMAT BINARY)") as copy:
                        copy.set_types(COPY_TYPES)
                        for row in all_rows:
                            copy.write_row(_values(row))
                if bulk:
                    conn.execute("SELECT set_config('maintenance_work_mem', %s, true)",
                                 (BUILD_MEMORY,))
                    conn.execute(HNSW_DDL)
            total = stored - sum(before.values()) + len(all_rows)
        return [UpsertResult(video_id=v, before=before.get(v, 0), after=len(batches[v]),
                             total=total) for v in videos]

    def count(self, video_id: str | None = None) -> int:
        with self._connect() as conn:
            if self._stored_model(conn) is None:
                return 0
            if video_id is None:
                return conn.execute(f"SELECT count(*) FROM {TABLE}").fetchone()[0]
            return conn.execute(f"SELECT count(*) FROM {TABLE} WHERE video_id = %s",
                                (video_id,)).fetchone()[0]

    def video_ids(self) -> set[str]:
        with self._connect() as conn:
            if self._stored_model(conn) is None:
                return set()
            return {row[0] for row in conn.execute(f"SELECT DISTINCT video_id FROM {TABLE}")}

    def search(self, vector: Sequence[float], query: str, k: int = 10, *, model: str,
               filters: SearchFilters | None = None, candidates: int = 50) -> list[SearchHit]:
        import psycopg

        where, params = _where(filters or SearchFilters())
        with self._connect() as conn:
            if self._schema_ready != (model, len(vector)):
                stored = self._stored_model(conn)
                if stored is None:
                    return []
                if stored != (model, len(vector)):
                    raise StoreMismatch(f"pgvector store at {self.where} was built with "
                                        f"{stored[0]} ({stored[1]}-d), not {model} "
                                        f"({len(vector)}-d)")
                self._schema_ready = stored
            try:
                rows = self._candidates(conn, vector, query, where, params, candidates)
            except psycopg.errors.UndefinedTable:  # dropped since it was checked
                self._schema_ready = None
                return []
        rankings: dict[str, list[str]] = {"vector": [], "keyword": []}
        by_id = {}
        for source, _, *hit in sorted(rows, key=lambda r: (r[0], r[1])):
            rankings[source].append(hit[0])
            by_id[hit[0]] = hit
        fused = reciprocal_rank_fusion([rankings["vector"], rankings["keyword"]])[:k]
        return [_hit(by_id[doc_id], score) for doc_id, score in fused]

    @staticmethod
    def _candidates(conn: Any, vector: Sequence[float], query: str, where: str,
                    params: list[Any], candidates: int) -> list[tuple]:
        """Both candidate lists with their rows, ranked, in one round trip.

        With filters, the vector ranking is exact over the filtered rows (``+ 0`` keeps the
        planner off the HNSW index): pgvector 0.6 filters *after* the index scan, so a
        selective filter such as one video could otherwise return too few or wrong rows.
        """
        distance = "embedding <=> %s::vector" if where == "true" else "(embedding <=> %s::vector) + 0"
        return conn.execute(f"""
            SELECT 'vector', row_number() OVER (), {HIT_COLUMNS} FROM (
                SELECT {HIT_COLUMNS} FROM {TABLE} WHERE {where}
                ORDER BY {distance} LIMIT %s) AS by_vector
            UNION ALL
            SELECT 'keyword', row_number() OVER (), {HIT_COLUMNS} FROM (
                SELECT {HIT_COLUMNS} FROM {TABLE}, websearch_to_tsquery('simple', %s) AS q
                WHERE tsv @@ q AND {where}
                ORDER BY ts_rank_cd(tsv, q) DESC, id LIMIT %s) AS by_keyword""",
            (*params, _vector_literal(vector), candidates, query, *params, candidates),
        ).fetchall()

def _vector_literal(vector: Sequence[float]) -> str:
    return "[" + ",".join(f"{float(x):.7g}" for x in vector) + "]"


COPY_TYPES = ("text", "text", "int4", "int4", "float8", "float8", "text", "text", "text",
              "text", "text", "text", "text", "vector")


def _register_vector(conn: Any) -> None:
    """pgvector's binary (de)serialisers for numpy arrays, on this connection."""
    from pgvector.psycopg import register_vector

    register_vector(conn)


def _values(row: ChunkRow) -> tuple:
    import numpy as np

    return (row.id, row.video_id, row.chunk_index, row.unit_index, row.start, row.end, row.text,
            row.title, row.channel, row.upload_date, row.language, row.url, row.model,
            np.asarray(row.vector, dtype=np.float32))


def _where(filters: SearchFilters) -> tuple[str, list[Any]]:
    """A parameterised WHERE clause: values never enter the SQL text."""
    clauses, params = ["true"], []
    for column, op, value in (("video_id", "=", filters.video_id),
                              ("channel", "=", filters.channel),
                              ("language", "=", filters.language),
                              ("upload_date", ">=", filters.date_from),
                              ("upload_date", "<=", filters.date_to)):
        if value is not None:
            clauses.append(f"{column} {op} %s")
            params.append(value)
    return " AND ".join(clauses), params


def _hit(row: tuple, score: float) -> SearchHit:
    (doc_id, video_id, title, text, start, end, url, channel, upload_date, language) = row
    return SearchHit(id=doc_id, video_id=video_id, title=title, text=text, start=start, end=end,
                     url=url, score=round(score, 6), channel=channel, upload_date=upload_date,
                     language=language)
