"""Vector stores behind one interface: Parquet (local default) and PostgreSQL + pgvector."""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from pathlib import Path

from scribeflow.core.config import DeploymentSettings, PipelineSettings
from scribeflow.core.files import DataPaths
from scribeflow.index.store.base import ChunkStore, StoreMismatch, UpsertResult

__all__ = ["ChunkStore", "StoreMismatch", "UpsertResult", "open_store"]


_OPEN: dict[tuple[str, str], ChunkStore] = {}
_LOCK = threading.Lock()


def pgvector_dsn_from_env(env: Mapping[str, str] | None = None) -> str | None:
    """The pgvector database as the tasks find it, without Airflow: the connection
    ``scribeflow_pgvector`` from its environment variable ``AIRFLOW_CONN_SCRIBEFLOW_PGVECTOR``
    (a URI or Airflow's JSON form), else ``SCRIBEFLOW_PGVECTOR_DSN``."""
    from scribeflow.core import connections

    env = os.environ if env is None else env
    return connections.pgvector_dsn(connections.from_env(connections.PGVECTOR_CONN_ID, env),
                                    DeploymentSettings.from_env(env).pgvector_dsn)


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
