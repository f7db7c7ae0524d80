"""The store interface every backend implements."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol

from scribeflow.core.errors import ConfigError
from scribeflow.core.records import ChunkRow, SearchFilters, SearchHit


class StoreMismatch(ConfigError):
    """The store holds vectors of another model or dimension than the ones offered.

    A setting to fix (the data folder, the store or the model), so tasks fail at once."""


@dataclass(frozen=True)
class UpsertResult:
    video_id: str
    #: Rows of the video before the upsert, and after.
    before: int
    after: int
    #: Rows in the whole store after the upsert.
    total: int


class ChunkStore(Protocol):
    name: str

    def upsert_video(self, video_id: str, rows: Sequence[ChunkRow]) -> UpsertResult:
        """Replace all of ``video_id``'s rows by ``rows`` as a whole, or change nothing."""

    def upsert_videos(self, batches: Mapping[str, Sequence[ChunkRow]]) -> list[UpsertResult]:
        """``upsert_video`` for many videos in one write (bulk loads, ``reindex``)."""

    def bulk_session(self) -> AbstractContextManager[None]:
        """A context in which many ``upsert_videos`` calls are one bulk load (``reindex``)."""

    def search(self, vector: Sequence[float], query: str, k: int = 10, *, model: str,
               filters: SearchFilters | None = None, candidates: int = 50) -> list[SearchHit]:
        """The ``k`` best rows for ``query``, best first: the ``candidates`` nearest to
        ``vector`` by cosine similarity fused (:func:`scribeflow.index.ranking.fuse`) with the ``candidates`` best keyword
        matches of ``query``, among the rows that pass ``filters``. Raises
        :class:`StoreMismatch` when the store holds another model's vectors."""

    def video_rows(self, video_id: str, vectors: bool = False) -> list[ChunkRow]:
        """``video_id``'s rows in chunk and unit order (their vectors empty unless
        ``vectors``): what an upsert compares its content hashes with."""

    def count(self, video_id: str | None = None) -> int:
        """Rows in the store, or of one video."""

    def video_ids(self) -> set[str]:
        """The ids of the videos that have rows in the store."""


def check_batches(batches: Mapping[str, Sequence[ChunkRow]]) -> None:
    """Every row belongs to the video it is filed under, and all rows share one model."""
    models = set()
    for video_id, rows in batches.items():
        if any(r.video_id != video_id for r in rows):
            raise ValueError(f"every row must belong to the video it is upserted with ({video_id})")
        models.update((r.model, len(r.vector)) for r in rows)
    if len(models) > 1:
        raise StoreMismatch(f"one write mixes embedding models: {sorted(models)}")
