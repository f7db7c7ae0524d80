"""The remote store: PostgreSQL with pgvector.

Schema, created on first use: the ``vector`` extension; ``scribeflow_store`` recording the
embedding model and dimension the store was built with (a mismatch is a clear
:class:`StoreMismatch`, never a corrupt table); ``scribeflow_chunks`` with a ``vector(dim)``
column under an HNSW cosine index and a generated ``tsvector`` under a GIN index for keyword
search. A video's rows are replaced in one transaction (delete, then COPY), so a failure
changes nothing. Passwords never reach messages or logs: errors name host, port and database.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from scribeflow.errors import ConfigError, ScribeflowError
from scribeflow.ranking import reciprocal_rank_fusion
from scribeflow.records import ChunkRow, SearchFilters, SearchHit
from scribeflow.store.base import StoreMismatch, UpsertResult

TABLE = "scribeflow_chunks"
META = "scribeflow_store"
COLUMNS = ("id", "video_id", "chunk_index", "unit_index", "start_s", "end_s", "text", "title",
           "channel", "upload_date", "language", "url", "model", "embedding")
HIT_COLUMNS = "id, video_id, title, text, start_s, end_s, url, channel, upload_date, language"


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

    def __init__(self, dsn: str, connect_timeout: int = 10, ef_search: int = 100):
        if not dsn:
            raise ConfigError("no pgvector database configured: set the scribeflow_pgvector "
                              "connection or SCRIBEFLOW_PGVECTOR_DSN")
        self.dsn = dsn
        self.where = describe_dsn(dsn)
        self.connect_timeout = connect_timeout
        self.ef_search = ef_search
        self._schema_ready: tuple[str, int] | None = None

    @contextmanager
    def _connect(self) -> Iterator[Any]:
        import psycopg

        try:
            conn = psycopg.connect(self.dsn, connect_timeout=self.connect_timeout, autocommit=True)
        except psycopg.OperationalError as exc:
            reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
            raise StoreUnavailable(f"cannot reach PostgreSQL at {self.where}: "
                                   f"{reason.replace(self.dsn, '')}") from None
        try:
            yield conn
        finally:
            conn.close()

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
                conn.execute(f"CREATE INDEX IF NOT EXISTS {TABLE}_embedding_hnsw ON {TABLE} "
                             "USING hnsw (embedding vector_cosine_ops)")
                conn.execute(f"CREATE INDEX IF NOT EXISTS {TABLE}_tsv ON {TABLE} USING gin (tsv)")
                conn.execute(f"CREATE INDEX IF NOT EXISTS {TABLE}_video ON {TABLE} (video_id)")
            stored = self._stored_model(conn)
            if stored != (model, dim):  # another writer created it first, with another model
                raise StoreMismatch(f"pgvector store at {self.where} holds {stored[1]}-d vectors "
                                    f"of {stored[0]}; this run embeds {dim}-d vectors with {model}")
        self._schema_ready = (model, dim)

    def upsert_video(self, video_id: str, rows: Sequence[ChunkRow]) -> UpsertResult:
        if any(r.video_id != video_id for r in rows):
            raise ValueError("every row must belong to the video being upserted")
        with self._connect() as conn:
            if rows:
                self._ensure_schema(conn, rows[0].model, len(rows[0].vector))
            elif self._stored_model(conn) is None:
                return UpsertResult(video_id=video_id, before=0, after=0, total=0)
            with conn.transaction():
                before = conn.execute(f"SELECT count(*) FROM {TABLE} WHERE video_id = %s",
                                      (video_id,)).fetchone()[0]
                conn.execute(f"DELETE FROM {TABLE} WHERE video_id = %s", (video_id,))
                with conn.cursor() as cur:
                    with cur.copy(f"COPY {TABLE} ({', '.join(COLUMNS)}) FROM STDIN") as copy:
                        for row in rows:
                            copy.write_row(_values(row))
                total = conn.execute(f"SELECT count(*) FROM {TABLE}").fetchone()[0]
        return UpsertResult(video_id=video_id, before=before, after=len(rows), total=total)

    def count(self, video_id: str | None = None) -> int:
        with self._connect() as conn:
            if self._stored_model(conn) is None:
                return 0
            if video_id is None:
                return conn.execute(f"SELECT count(*) FROM {TABLE}").fetchone()[0]
            return conn.execute(f"SELECT count(*) FROM {TABLE} WHERE video_id = %s",
                                (video_id,)).fetchone()[0]

    def search(self, vector: Sequence[float], query: str, k: int = 10, *, model: str,
               filters: SearchFilters | None = None, candidates: int = 50) -> list[SearchHit]:
        where, params = _where(filters or SearchFilters())
        literal = _vector_literal(vector)
        with self._connect() as conn:
            stored = self._stored_model(conn)
            if stored is None:
                return []
            if stored != (model, len(vector)):
                raise StoreMismatch(f"pgvector store at {self.where} was built with {stored[0]} "
                                    f"({stored[1]}-d), not {model} ({len(vector)}-d)")
            with conn.transaction():
                conn.execute(f"SET LOCAL hnsw.ef_search = {max(int(self.ef_search), candidates)}")
                by_vector = [r[0] for r in conn.execute(
                    f"SELECT id FROM {TABLE} WHERE {where} "
                    "ORDER BY embedding <=> %s::vector LIMIT %s",
                    (*params, literal, candidates)).fetchall()]
            by_keyword = [r[0] for r in conn.execute(
                f"SELECT id FROM {TABLE}, websearch_to_tsquery('simple', %s) query "
                f"WHERE tsv @@ query AND {where} "
                "ORDER BY ts_rank_cd(tsv, query) DESC, id LIMIT %s",
                (query, *params, candidates)).fetchall()]
            fused = reciprocal_rank_fusion([by_vector, by_keyword])[:k]
            if not fused:
                return []
            rows = conn.execute(f"SELECT {HIT_COLUMNS} FROM {TABLE} WHERE id = ANY(%s)",
                                ([doc_id for doc_id, _ in fused],)).fetchall()
        by_id = {r[0]: r for r in rows}
        return [_hit(by_id[doc_id], score) for doc_id, score in fused if doc_id in by_id]


def _vector_literal(vector: Sequence[float]) -> str:
    return "[" + ",".join(f"{float(x):.7g}" for x in vector) + "]"


def _values(row: ChunkRow) -> tuple:
    return (row.id, row.video_id, row.chunk_index, row.unit_index, row.start, row.end, row.text,
            row.title, row.channel, row.upload_date, row.language, row.url, row.model,
            _vector_literal(row.vector))


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
