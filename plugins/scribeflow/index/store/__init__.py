"""Vector stores behind one interface: Parquet (local default) and PostgreSQL + pgvector."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from scribeflow.core.config import DeploymentSettings, PipelineSettings
from scribeflow.core.files import DataPaths
from scribeflow.index.store.base import ChunkStore, StoreMismatch, UpsertResult

__all__ = ["ChunkStore", "StoreMismatch", "UpsertResult", "open_store"]


_OPEN: dict[tuple[str, str], ChunkStore] = {}
_LOCK = threading.Lock()


def pgvector_dsn_from_env() -> str | None:
    """The pgvector database as the tasks find it, without Airflow: the connection
    ``scribeflow_pgvector`` from its environment variable ``AIRFLOW_CONN_SCRIBEFLOW_PGVECTOR``
    (a URI or Airflow's JSON form), else ``SCRIBEFLOW_PGVECTOR_DSN``."""
    import json
    from urllib.parse import quote

    raw = (os.environ.get("AIRFLOW_CONN_SCRIBEFLOW_PGVECTOR") or "").strip()
    if not raw:
        return DeploymentSettings.from_env().pgvector_dsn or None
    if not raw.startswith("{"):
        return "postgresql://" + raw.split("://", 1)[1] if "://" in raw else raw
    conn = json.loads(raw)
    auth = quote(conn.get("login") or "", safe="")
    if conn.get("password"):
        auth += ":" + quote(conn["password"], safe="")
    port = f":{conn['port']}" if conn.get("port") else ""
    return (f"postgresql://{auth + '@' if auth else ''}{conn.get('host') or 'localhost'}{port}"
            f"/{conn.get('schema') or ''}")


def open_store(settings: PipelineSettings, dsn: str | None = None) -> ChunkStore:
    """The store ``settings.store`` names. pgvector's DSN comes from ``dsn`` (an Airflow
    connection's URI, passed by the task) or ``SCRIBEFLOW_PGVECTOR_DSN``.

    Stores are kept per process (the Parquet store's loaded matrix, pgvector's connection
    pool of ``settings.pg_pool_size``), so a long-running server does not re-read the files
    or reconnect for every query.
    """
    if settings.store == "parquet":
        key = ("parquet", str(DataPaths(settings.data_dir).parquet_store))
    elif settings.store == "pgvector":
        key = ("pgvector", dsn or pgvector_dsn_from_env() or "")
    else:
        raise ValueError(f"unknown store {settings.store!r}")
    with _LOCK:
        if key not in _OPEN:
            if key[0] == "parquet":
                from scribeflow.index.store.parquet import ParquetStore

                _OPEN[key] = ParquetStore(Path(key[1]))
            else:
                from scribeflow.index.store.pgvector import PgvectorStore

                _OPEN[key] = PgvectorStore(key[1], pool_size=settings.pg_pool_size)
        return _OPEN[key]
