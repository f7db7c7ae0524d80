"""The pgvector store's schema, created on first use, and its SQL pieces.

The ``vector`` extension; ``scribeflow_store`` recording the embedding model and dimension
the store was built with (a mismatch is a clear :class:`StoreMismatch`, never a corrupt
table); ``scribeflow_chunks`` with a ``vector(dim)`` column under an HNSW cosine index and a
generated ``tsvector`` under a GIN index for keyword search, built with the text-search
configuration of the row's language (``english`` for ``en``: stemmed, stop words left out;
``simple`` for languages PostgreSQL has no configuration for); ``scribeflow_languages`` lists
the languages stored, whose configurations parse a query. Also: how an older schema is
upgraded, rows to and from SQL values, and the memory an index build gets.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from scribeflow.core.config import DeploymentSettings
from scribeflow.core.errors import ScribeflowError
from scribeflow.core.records import SUMMARY_CHUNK, ChunkRow, SearchFilters, SearchHit
from scribeflow.index.moments import pack
from scribeflow.index.ranking import Ranked

TABLE = "scribeflow_chunks"


META = "scribeflow_store"


LANGUAGES_TABLE = "scribeflow_languages"


#: PostgreSQL's built-in text-search configurations by Whisper language code; any other
#: language is indexed with ``simple`` (lower-cased words, no stemming, no stop words).
#: Those the server lacks (armenian, basque, catalan, hindi, serbian and yiddish came with
#: PostgreSQL 16) are left out of the function when it is created.
TS_CONFIGS = {
    "ar": "arabic", "ca": "catalan", "da": "danish", "de": "german", "el": "greek",
    "en": "english", "es": "spanish", "eu": "basque", "fi": "finnish", "fr": "french",
    "ga": "irish", "hi": "hindi", "hu": "hungarian", "hy": "armenian", "id": "indonesian",
    "it": "italian", "lt": "lithuanian", "ne": "nepali", "nl": "dutch", "no": "norwegian",
    "pt": "portuguese", "ro": "romanian", "ru": "russian", "sr": "serbian", "sv": "swedish",
    "ta": "tamil", "tr": "turkish", "yi": "yiddish",
}


TS_CONFIG_FUNCTION = "scribeflow_ts_config"


COLUMNS = ("id", "video_id", "chunk_index", "unit_index", "start_s", "end_s", "text", "title",
           "channel", "upload_date", "language", "url", "model", "content_hash", "moments",
           "speakers", "embedding")


HIT_COLUMNS = ("id, video_id, title, text, start_s, end_s, url, channel, upload_date, language, "
               "moments, speakers, chunk_index")


#: A hit row: its HIT_COLUMNS, then its cosine distance to the query.
HIT_FIELDS = 14


MOMENTS_FIELD = 10


HNSW_INDEX = f"{TABLE}_embedding_hnsw"


HNSW_DDL = (f"CREATE INDEX IF NOT EXISTS {HNSW_INDEX} ON {TABLE} "
            "USING hnsw (embedding vector_cosine_ops)")


GIN_INDEX = f"{TABLE}_tsv"


GIN_DDL = f"CREATE INDEX IF NOT EXISTS {GIN_INDEX} ON {TABLE} USING gin (tsv)"


#: Bytes an HNSW graph element takes in memory beside its vector (neighbour lists of
#: m = 16 on two layers, tuple ids, headers), with room to spare.
_HNSW_ELEMENT_BYTES = 1200


def build_memory(rows: int, dim: int) -> str:
    """maintenance_work_mem for building the indexes of ``rows`` vectors of ``dim``: enough to
    build the HNSW graph in memory. Past that limit pgvector goes on inserting into the graph
    on disk, many times slower (1M 384-d rows under 2 GB: the build was 69 % done after 24
    minutes). At least 64 MB, PostgreSQL's own default. ``SCRIBEFLOW_PG_BUILD_MEMORY``
    (e.g. ``4GB``) sets it instead."""
    configured = DeploymentSettings.from_env().pg_build_memory
    if configured:
        return configured
    need = rows * (4 * dim + _HNSW_ELEMENT_BYTES) * 5 // 4
    return f"{max(64, -(-need // 2**20))}MB"


def _remove_videos(conn: Any, videos: list[str], stored: int | None
                   ) -> tuple[dict[str, int], bool]:
    """Delete the videos' rows: their counts per video, and whether the table was emptied
    with TRUNCATE. ``stored``, the table's row count, is given by a bulk write (indexes
    dropped, table locked): when the videos are all the rows (a reindex), the table is
    emptied with TRUNCATE. A CREATE INDEX in the transaction that deleted rows still indexes
    them (other transactions could see them), so a 1M-row reindex built a graph of 2M
    vectors, past its memory, on disk: stopped after 17 minutes at 90 % of the table; 8
    minutes with TRUNCATE."""
    if stored is not None:
        counts = dict(conn.execute(
            f"SELECT video_id, count(*) FROM {TABLE} WHERE video_id = ANY(%s) GROUP BY video_id",
            (videos,)).fetchall())
        if counts and sum(counts.values()) == stored:
            conn.execute(f"TRUNCATE {TABLE}")
            return counts, True
    return dict(conn.execute(
        f"WITH gone AS (DELETE FROM {TABLE} WHERE video_id = ANY(%s) "
        "RETURNING video_id) SELECT video_id, count(*) FROM gone GROUP BY video_id",
        (videos,)).fetchall()), False


TSV_EXPRESSION = f"to_tsvector({TS_CONFIG_FUNCTION}(language), title || ' ' || text)"


def _ts_config_function(conn: Any) -> str:
    """``scribeflow_ts_config(language)``: the text-search configuration of a language code
    (immutable, so the generated ``tsv`` column can use it), for the server's configurations."""
    have = {r[0] for r in conn.execute("SELECT cfgname FROM pg_ts_config").fetchall()}
    cases = " ".join(f"WHEN '{code}' THEN '{config}'"
                     for code, config in sorted(TS_CONFIGS.items()) if config in have)
    return (f"CREATE OR REPLACE FUNCTION {TS_CONFIG_FUNCTION}(lang text) RETURNS regconfig "
            f"LANGUAGE sql IMMUTABLE PARALLEL SAFE AS "
            f"$$ SELECT (CASE lang {cases} ELSE 'simple' END)::regconfig $$")


def _upgrade_keywords(conn: Any) -> None:
    """Stores made before keywords followed the row's language: the ``tsv`` column indexed
    every row with ``simple``; it is generated again, once, per language."""
    expression = conn.execute(
        "SELECT pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d JOIN pg_attribute a "
        "ON a.attrelid = d.adrelid AND a.attnum = d.adnum "
        "WHERE d.adrelid = %s::regclass AND a.attname = 'tsv'", (TABLE,)).fetchone()
    if expression and TS_CONFIG_FUNCTION in expression[0]:
        return
    with conn.transaction():
        conn.execute(f"LOCK TABLE {TABLE} IN ACCESS EXCLUSIVE MODE")
        conn.execute(_ts_config_function(conn))
        conn.execute(f"CREATE TABLE IF NOT EXISTS {LANGUAGES_TABLE} "
                     "(language text PRIMARY KEY, config regconfig NOT NULL)")
        conn.execute(f"ALTER TABLE {TABLE} DROP COLUMN IF EXISTS tsv")
        conn.execute(f"ALTER TABLE {TABLE} ADD COLUMN tsv tsvector "
                     f"GENERATED ALWAYS AS ({TSV_EXPRESSION}) STORED")
        conn.execute(GIN_DDL)
        conn.execute(f"INSERT INTO {LANGUAGES_TABLE} (language, config) "
                     f"SELECT DISTINCT coalesce(language, ''), "
                     f"{TS_CONFIG_FUNCTION}(coalesce(language, '')) FROM {TABLE} "
                     "ON CONFLICT (language) DO NOTHING")


def _as_array(value: Any) -> Any:
    """A stored vector as a float32 numpy array (pgvector's loaders give a ``Vector``)."""
    import numpy as np

    return np.asarray(value.to_numpy() if hasattr(value, "to_numpy") else value,
                      dtype=np.float32)


def _add_columns(conn: Any) -> None:
    """Stores made before rows carried a content hash, moments or speakers get the columns
    (null in their rows, which are then embedded again once)."""
    present = {r[0] for r in conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = %s "
        "AND column_name IN ('content_hash', 'moments', 'speakers') "
        "AND table_schema = current_schema()", (TABLE,)).fetchall()}
    for column, kind in (("content_hash", "text"), ("moments", "bytea"), ("speakers", "text[]")):
        if column not in present:
            conn.execute(f"ALTER TABLE {TABLE} ADD COLUMN IF NOT EXISTS {column} {kind}")


def _vector_literal(vector: Sequence[float]) -> str:
    return "[" + ",".join(f"{float(x):.7g}" for x in vector) + "]"


COPY_TYPES = ("text", "text", "int4", "int4", "float8", "float8", "text", "text", "text",
              "text", "text", "text", "text", "text", "bytea", "text[]", "vector")


def _register_vector(conn: Any) -> None:
    """pgvector's binary (de)serialisers for numpy arrays, on this connection."""
    from pgvector.psycopg import register_vector

    register_vector(conn)


def _values(row: ChunkRow) -> tuple:
    import numpy as np

    return (row.id, row.video_id, row.chunk_index, row.unit_index, row.start, row.end, row.text,
            row.title, row.channel, row.upload_date, row.language, row.url, row.model,
            row.content_hash, pack(row.moments), list(row.speakers),
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
    if filters.speaker is not None:
        clauses.append("%s = ANY(speakers)")
        params.append(filters.speaker)
    return " AND ".join(clauses), params


def _hit(row: tuple, ranked: Ranked) -> SearchHit:
    (doc_id, video_id, title, text, start, end, url, channel, upload_date, language, _,
     speakers, chunk_index, _) = row
    return SearchHit(
        id=doc_id, video_id=video_id, title=title, text=text, start=start, end=end, url=url,
        score=round(ranked.score, 6), channel=channel, upload_date=upload_date,
        language=language, similarity=round(ranked.similarity, 4), weak=ranked.weak,
        speakers=tuple(speakers or ()), summary=chunk_index == SUMMARY_CHUNK)


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


#: A tsquery matching any lexeme of a text in a configuration (``{}``), empty for none.
_ANY_LEXEME = ("(SELECT coalesce(string_agg(quote_literal(lexeme), ' | '), '')::tsquery "
               "FROM unnest(to_tsvector({}, %s)))")


