"""Vector stores behind one interface: Parquet (local default); pgvector follows."""

from __future__ import annotations

from scribeflow.config import PipelineSettings
from scribeflow.files import DataPaths
from scribeflow.store.base import ChunkStore, StoreMismatch, UpsertResult

__all__ = ["ChunkStore", "StoreMismatch", "UpsertResult", "open_store"]


def open_store(settings: PipelineSettings) -> ChunkStore:
    if settings.store == "parquet":
        from scribeflow.store.parquet import ParquetStore

        return ParquetStore(DataPaths(settings.data_dir).parquet_store)
    raise ValueError(f"unknown store {settings.store!r}")
