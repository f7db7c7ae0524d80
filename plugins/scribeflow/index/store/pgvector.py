"""The remote store: PostgreSQL with pgvector (its schema: :mod:`.pg_schema`).

A video's rows are replaced in one transaction (delete, then binary COPY), so a failure
changes nothing; bulk writes rebuild the HNSW index inside that transaction. Connections come
from a pool (``pool_size``, ``SCRIBEFLOW_PG_POOL_SIZE``), so concurrent searches run side by
side. Passwords never reach messages or logs: errors name host, port and database.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from scribeflow.core.errors import ConfigError
from scribeflow.core.records import ChunkRow, SearchFilters, SearchHit
from scribeflow.index.moments import landed, unpack
from scribeflow.index.ranking import fuse
from scribeflow.index.store.base import StoreMismatch, UpsertResult, check_batches
from scribeflow.index.store.pg_schema import (
    _ANY_LEXEME,
    COLUMNS,
    COPY_TYPES,
    GIN_DDL,
    GIN_INDEX,
    HIT_COLUMNS,
    HIT_FIELDS,
    HNSW_DDL,
    HNSW_INDEX,
    LANGUAGES_TABLE,
    META,
    MOMENTS_FIELD,
    TABLE,
    TS_CONFIG_FUNCTION,
    TSV_EXPRESSION,
    StoreUnavailable,
    _add_columns,
    _as_array,
    _hit,
    _register_vector,
    _remove_videos,
    _ts_config_function,
    _upgrade_keywords,
    _values,
    _vector_literal,
    _where,
    build_memory,
    describe_dsn,
)

#: How long a process trusts its list of the languages stored before reading it again.
LANGUAGES_TTL_S = 30.0
#: A write of at least this many rows (and a quarter of the table) drops the HNSW and
#: keyword indexes, copies, and builds them again in the same transaction: about 7x faster
#: than inserting into the graph row by row (bench/store_bench.py). Searches wait for that
#: transaction.
BULK_ROWS = 5_000


class PgvectorStore:
    name = "pgvector"

    def __init__(self, dsn: str, connect_timeout: int = 10, ef_search: int = 200,
                 pool_size: int = 8):
        if not dsn:
            raise ConfigError("no pgvector database configured: set the scribeflow_pgvector "
                              "connection or SCRIBEFLOW_PGVECTOR_DSN")
        if pool_size < 1:
            raise ConfigError(f"pg_pool_size must be at least 1, not {pool_size}")
        self.dsn = dsn
        self.where = describe_dsn(dsn)
        self.connect_timeout = connect_timeout
        self.ef_search = max(ef_search, 1)
        self.pool_size = pool_size
        self._schema_ready: tuple[str, int] | None = None
        self._pool: Any = None
        self._pool_pid = 0
        self._lock = threading.Lock()
        self._ts_configs: tuple[float, tuple[str, ...]] | None = None
        self._threads: tuple[int, Any] | None = None
        self._bulk_session = False

    def _open_pool(self) -> Any:
        """The process's pool, opened on first use (a forked worker opens its own). The
        first connection is made directly, so an unreachable server gives its own reason."""
        import psycopg
        from psycopg_pool import ConnectionPool

        with self._lock:
            if self._pool is not None and self._pool_pid == os.getpid():
                return self._pool
            try:
                psycopg.connect(self.dsn, connect_timeout=self.connect_timeout).close()
            except psycopg.OperationalError as exc:
                text = str(exc).strip()
                reason = text.splitlines()[-1] if text else type(exc).__name__
                raise StoreUnavailable(f"cannot reach PostgreSQL at {self.where}: "
                                       f"{reason.replace(self.dsn, '')}") from None
            ef_search = int(self.ef_search)

            def configure(conn: Any) -> None:
                conn.execute(f"SET hnsw.ef_search = {ef_search}")

            self._pool = ConnectionPool(
                self.dsn, min_size=1, max_size=self.pool_size, open=True, configure=configure,
                timeout=self.connect_timeout, name=f"scribeflow {self.where}",
                kwargs={"autocommit": True, "connect_timeout": self.connect_timeout})
            self._pool_pid = os.getpid()
            return self._pool

    @contextmanager
    def _connect(self) -> Iterator[Any]:
        """A connection from the pool, for one call; a broken one is discarded by the pool."""
        import psycopg
        from psycopg_pool import PoolTimeout

        pool = self._open_pool()
        try:
            with pool.connection() as conn:
                yield conn
        except PoolTimeout:
            raise StoreUnavailable(f"cannot reach PostgreSQL at {self.where}: no connection "
                                   f"within {self.connect_timeout}s") from None
        except psycopg.OperationalError as exc:
            raise StoreUnavailable(f"lost PostgreSQL at {self.where}: "
                                   f"{str(exc).strip().splitlines()[-1]}") from None

    def close(self) -> None:
        with self._lock:
            if self._pool is not None and self._pool_pid == os.getpid():
                self._pool.close()
            if self._threads is not None and self._threads[0] == os.getpid():
                self._threads[1].shutdown(wait=True)
            self._pool = self._threads = None

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
                conn.execute(_ts_config_function(conn))
                conn.execute(f"CREATE TABLE IF NOT EXISTS {LANGUAGES_TABLE} "
                             "(language text PRIMARY KEY, config regconfig NOT NULL)")
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
                        content_hash text,
                        moments bytea,
                        speakers text[],
                        embedding vector({int(dim)}) NOT NULL,
                        tsv tsvector GENERATED ALWAYS AS ({TSV_EXPRESSION}) STORED)""")
                conn.execute(HNSW_DDL)
                conn.execute(GIN_DDL)
                conn.execute(f"CREATE INDEX IF NOT EXISTS {TABLE}_video ON {TABLE} (video_id)")
            stored = self._stored_model(conn)
            if stored != (model, dim):  # another writer created it first, with another model
                raise StoreMismatch(f"pgvector store at {self.where} holds {stored[1]}-d vectors "
                                    f"of {stored[0]}; this run embeds {dim}-d vectors with {model}")
        else:
            _upgrade_keywords(conn)
            _add_columns(conn)
            if not self._bulk_session:  # a bulk session that crashed left them dropped
                conn.execute(GIN_DDL)
                conn.execute(HNSW_DDL)
        self._schema_ready = (model, dim)

    @contextmanager
    def bulk_session(self) -> Iterator[None]:
        """Many ``upsert_videos`` calls as one bulk load (``reindex`` writes a large store in
        batches that bound its memory): the HNSW and keyword indexes are dropped for the
        session and built once at its end, instead of each batch going into the live graph
        row by row (400 rows took 1.3 s at 1M rows). Each batch still commits on its own,
        so every video is replaced whole; searches meanwhile run without the indexes (right,
        slower). Should the session die, the next write builds the indexes again."""
        with self._connect() as conn:
            conn.execute(f"DROP INDEX IF EXISTS {HNSW_INDEX}")
            conn.execute(f"DROP INDEX IF EXISTS {GIN_INDEX}")
        self._bulk_session = True
        try:
            yield
        finally:
            self._bulk_session = False
            with self._connect() as conn:
                stored = self._stored_model(conn)
                if stored is not None:
                    with conn.transaction():
                        rows = conn.execute(f"SELECT count(*) FROM {TABLE}").fetchone()[0]
                        conn.execute("SELECT set_config('maintenance_work_mem', %s, true)",
                                     (build_memory(rows, stored[1]),))
                        conn.execute(GIN_DDL)
                        conn.execute(HNSW_DDL)

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
                bulk = (not self._bulk_session and len(all_rows) >= BULK_ROWS
                        and len(all_rows) >= stored // 4)
                # rebuilding beats inserting row by row into the graph and GIN: below, or
                # once at the end of a bulk session
                if bulk or self._bulk_session:
                    conn.execute(f"DROP INDEX IF EXISTS {HNSW_INDEX}")
                    conn.execute(f"DROP INDEX IF EXISTS {GIN_INDEX}")
                before, truncated = _remove_videos(conn, videos, stored if bulk else None)
                with conn.cursor() as cur:
                    with cur.copy(f"COPY {TABLE} ({', '.join(COLUMNS)}) FROM STDIN "
                                  "WITH (FORMAT BINARY)") as copy:
                        copy.set_types(COPY_TYPES)
                        for row in all_rows:
                            copy.write_row(_values(row))
                total = stored - sum(before.values()) + len(all_rows)
                if bulk:  # the build also indexes rows deleted in this transaction
                    seen = total + (0 if truncated else sum(before.values()))
                    conn.execute("SELECT set_config('maintenance_work_mem', %s, true)",
                                 (build_memory(seen, len(all_rows[0].vector)),))
                    conn.execute(GIN_DDL)
                    conn.execute(HNSW_DDL)
                languages = sorted({r.language or "" for r in all_rows})
                if languages:
                    conn.execute(
                        f"INSERT INTO {LANGUAGES_TABLE} (language, config) SELECT l, "
                        f"{TS_CONFIG_FUNCTION}(l) FROM unnest(%s::text[]) AS l "
                        "ON CONFLICT (language) DO NOTHING", (languages,))
            self._ts_configs = None
        return [UpsertResult(video_id=v, before=before.get(v, 0), after=len(batches[v]),
                             total=total) for v in videos]

    def video_rows(self, video_id: str, vectors: bool = False) -> list[ChunkRow]:
        with self._connect() as conn:
            if self._stored_model(conn) is None:
                return []
            _add_columns(conn)
            if vectors:
                _register_vector(conn)
            rows = conn.execute(
                f"SELECT {', '.join(COLUMNS[:-1])}, {'embedding' if vectors else 'NULL'} "
                f"FROM {TABLE} WHERE video_id = %s ORDER BY chunk_index, unit_index",
                (video_id,)).fetchall()
        return [ChunkRow(id=r[0], video_id=r[1], chunk_index=r[2], unit_index=r[3], start=r[4],
                         end=r[5], text=r[6], title=r[7], channel=r[8], upload_date=r[9],
                         language=r[10], url=r[11], model=r[12], content_hash=r[13],
                         moments=unpack(r[14]), speakers=tuple(r[15] or ()),
                         vector=_as_array(r[16]) if vectors else ()) for r in rows]

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
        """The vector and keyword candidates are fetched side by side, each on its own pooled
        connection (about the time of the slower one instead of the sum), then fused."""
        import psycopg

        filters = filters or SearchFilters()
        where, params = _where(filters)
        if self._schema_ready != (model, len(vector)) or self._configs_stale():
            with self._connect() as conn:
                stored = self._stored_model(conn)
                if stored is None:
                    return []
                if stored != (model, len(vector)):
                    raise StoreMismatch(f"pgvector store at {self.where} was built with "
                                        f"{stored[0]} ({stored[1]}-d), not {model} "
                                        f"({len(vector)}-d)")
                _add_columns(conn)  # a store of an older version: its rows have no moments
                self._schema_ready = stored
                self._refresh_configs(conn)
        # With filters the vector ranking is exact over the filtered rows (``+ 0`` keeps the
        # planner off the HNSW index): pgvector 0.6 filters *after* the index scan, so a
        # selective filter such as one video could otherwise return too few or wrong rows.
        distance = "embedding <=> %s::vector" if where == "true" else "(embedding <=> %s::vector) + 0"
        literal = _vector_literal(vector)
        # ordered by the selected distance (the index still serves it)
        by_vector = (f"SELECT {HIT_COLUMNS}, {distance} AS distance FROM {TABLE} WHERE {where} "
                     "ORDER BY distance LIMIT %s", (literal, *params, candidates))
        # rows holding every word of the query; when none does (a question in words of its
        # own), rows holding any, in a second query. Ranking every row that holds any common
        # word in the first place took 2.4x as long at 100k rows (P6).
        by_keyword = [self._keyword_query(query, filters, every, literal, where, params,
                                          candidates) for every in (True, False)]
        pending = [self._executor().submit(self._fetch, *statement)
                   for statement in (by_vector, by_keyword[0])]
        try:
            vector_rows, keyword_rows = (f.result() for f in pending)
            if not keyword_rows:
                keyword_rows = self._fetch(*by_keyword[1])
        except psycopg.errors.UndefinedTable:  # dropped since it was checked
            self._schema_ready = None
            return []
        by_id = {row[0]: row[:HIT_FIELDS] for row in (*vector_rows, *keyword_rows)}
        ranked = fuse({doc_id: 1 - float(row[-1]) for doc_id, row in by_id.items()},
                      {row[0]: float(row[-1]) for row in keyword_rows}, k)
        return landed([_hit(by_id[r.key], r) for r in ranked],
                      [by_id[r.key][MOMENTS_FIELD] for r in ranked], vector)

    def _keyword_query(self, query: str, filters: SearchFilters, every: bool, literal: str,
                       where: str, params: list[Any], candidates: int) -> tuple[str, tuple]:
        """The ``candidates`` best rows holding every (or any) word of ``query``, each with
        its distance to the query vector (computed outside the ranked LIMIT) and its rank."""
        tsquery, ts_params = self._tsquery(query, filters, every)
        return (f"SELECT {HIT_COLUMNS}, embedding <=> %s::vector, rank FROM ("
                f"SELECT {HIT_COLUMNS}, embedding, ts_rank_cd(tsv, q) AS rank "
                f"FROM {TABLE}, ({tsquery}) AS q(q) WHERE tsv @@ q AND {where} "
                "ORDER BY rank DESC, id LIMIT %s) AS best ORDER BY rank DESC, id",
                (literal, *ts_params, *params, candidates))

    def _fetch(self, sql: str, params: Sequence[Any]) -> list[tuple]:
        with self._connect() as conn:
            return conn.execute(sql, params).fetchall()

    def _executor(self) -> Any:
        """Threads that run a search's two queries (a forked worker starts its own)."""
        from concurrent.futures import ThreadPoolExecutor

        with self._lock:
            if self._threads is None or self._threads[0] != os.getpid():
                self._threads = (os.getpid(), ThreadPoolExecutor(
                    max_workers=2 * self.pool_size, thread_name_prefix="scribeflow-search"))
            return self._threads[1]

    def _configs_stale(self) -> bool:
        return self._ts_configs is None or time.monotonic() - self._ts_configs[0] > LANGUAGES_TTL_S

    def _refresh_configs(self, conn: Any) -> None:
        """The text-search configurations of every language stored, read again at most every
        ``LANGUAGES_TTL_S`` seconds."""
        rows = conn.execute(f"SELECT DISTINCT config::text FROM {LANGUAGES_TABLE}").fetchall()
        self._ts_configs = (time.monotonic(), tuple(sorted(r[0] for r in rows)) or ("simple",))

    def _tsquery(self, query: str, filters: SearchFilters, every: bool
                 ) -> tuple[str, tuple[Any, ...]]:
        """The query as a tsquery of every word (``websearch_to_tsquery``) or of any word
        (its lexemes OR-ed, as the Parquet store's BM25 matches any term), in its language's
        configuration when the search is filtered by language, else in those of every
        language stored, OR-ed: each row matches in its own configuration."""
        parse = "websearch_to_tsquery({}, %s)" if every else _ANY_LEXEME
        if filters.language is not None:
            return "SELECT " + parse.format(f"{TS_CONFIG_FUNCTION}(%s)"), (filters.language,
                                                                          query)
        configs = self._ts_configs[1] if self._ts_configs else ("simple",)
        return ("SELECT " + " || ".join([parse.format("%s::regconfig")] * len(configs)),
                tuple(a for c in configs for a in (c, query)))
