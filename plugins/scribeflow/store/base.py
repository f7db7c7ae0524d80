"""The store interface every backend implements."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from scribeflow.errors import ScribeflowError
from scribeflow.records import ChunkRow, SearchHit


class StoreMismatch(ScribeflowError):
    """The store holds vectors of another model or dimension than the ones offered."""


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

    def search(self, vector: Sequence[float], k: int = 10, *, model: str,
               video_id: str | None = None) -> list[SearchHit]:
        """The ``k`` rows nearest to ``vector`` by cosine similarity, best first."""

    def count(self, video_id: str | None = None) -> int:
        """Rows in the store, or of one video."""
