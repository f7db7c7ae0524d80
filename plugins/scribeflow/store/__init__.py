"""Vector stores behind one interface: Parquet (local default) and PostgreSQL + pgvector."""

from __future__ import annotations

import os

from scribeflow.config import PipelineSettings
from scribeflow.files import DataPaths
from scribeflow.store.base import ChunkStore, StoreMismatch, UpsertResult

__all__ = ["ChunkStore", "StoreMismatch", "UpsertResult", "open_store"]


def open_store(settings: PipelineSettings, dsn: str | None = None) -> ChunkStore:
    """The store ``settings.store`` names. pgvector's DSN comes from ``dsn`` (an Airflow
    connection's URI, passed by the task) or ``SCRIBEFLOW_PGVECTOR_DSN``."""
    if settings.store == "parquet":
        from scribeflow.store.parquet import ParquetStore

        return ParquetStore(DataPaths(settings.data_dir).parquet_store)
    if settings.store == "pgvector":
        from scribeflow.store.pgvector import PgvectorStore

        return PgvectorStore(dsn or os.environ.get("SCRIBEFLOW_PGVECTOR_DSN", ""))
    raise ValueError(f"unknown store {settings.store!r}")
