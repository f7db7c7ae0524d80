"""The store interface every backend implements."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from scribeflow.errors import ConfigError
from scribeflow.records import ChunkRow, SearchFilters, SearchHit


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

    def search(self, vector: Sequence[float], query: str, k: int = 10, *, model: str,
               filters: SearchFilters | None = None, candidates: int = 50) -> list[SearchHit]:
        """The ``k`` best rows for ``query``, best first: the ``candidates`` nearest to
        ``vector`` by cosine similarity fused (RRF) with the ``candidates`` best keyword
        matches of ``query``, among the rows that pass ``filters``. Raises
        :class:`StoreMismatch` when the store holds another model's vectors."""

    def count(self, video_id: str | None = None) -> int:
        """Rows in the store, or of one video."""
