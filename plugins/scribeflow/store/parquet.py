"""The local store: one Parquet file, upserted by id, replaced atomically.

Every write reads the file, drops the video's old rows (and any row with an incoming id),
appends the new ones and writes a new file that replaces the old with ``os.replace``: a
crash leaves the old file, never a torn one. Writers take a file lock. Reads keep the
loaded matrix while the file's mtime is unchanged, so repeated queries do not re-read it.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from scribeflow.files import locked, write_bytes_atomic
from scribeflow.ranking import BM25, reciprocal_rank_fusion
from scribeflow.records import ChunkRow, SearchFilters, SearchHit
from scribeflow.store.base import StoreMismatch, UpsertResult

COLUMNS = ("id", "video_id", "chunk_index", "unit_index", "start", "end", "text", "title",
           "channel", "upload_date", "language", "url", "model", "vector")


class ParquetStore:
    name = "parquet"

    def __init__(self, path: Path):
        self.path = Path(path)
        self._cache: tuple[int, Any, Any, BM25] | None = None
        self._cache_lock = threading.Lock()

    def _read(self) -> Any:
        import polars as pl

        if not self.path.exists():
            return None
        frame = pl.read_parquet(self.path)
        if "language" not in frame.columns:  # stores written before rows carried a language
            frame = frame.with_columns(pl.lit(None, dtype=pl.String).alias("language"))
        return frame.select(COLUMNS)

    def upsert_video(self, video_id: str, rows: Sequence[ChunkRow]) -> UpsertResult:
        import polars as pl

        if any(r.video_id != video_id for r in rows):
            raise ValueError("every row must belong to the video being upserted")
        with locked(self.path):
            existing = self._read()
            new = _frame([r.to_row() for r in rows])
            before = 0
            if existing is not None and existing.height:
                self._check_compatible(existing, rows)
                before = existing.filter(pl.col("video_id") == video_id).height
                ids = new["id"] if new is not None else pl.Series([], dtype=pl.String)
                existing = existing.filter((pl.col("video_id") != video_id) & ~pl.col("id").is_in(ids))
                combined = pl.concat([existing, new]) if new is not None else existing
            else:
                combined = new if new is not None else existing
            if combined is None:
                return UpsertResult(video_id=video_id, before=0, after=0, total=0)
            if not rows and before == 0:  # nothing to add or remove: leave the file untouched
                return UpsertResult(video_id=video_id, before=0, after=0, total=combined.height)
            buffer = io.BytesIO()
            combined.write_parquet(buffer, compression="zstd")
            write_bytes_atomic(self.path, buffer.getvalue())
            return UpsertResult(video_id=video_id, before=before, after=len(rows),
                                total=combined.height)

    def _check_compatible(self, existing: Any, rows: Sequence[ChunkRow]) -> None:
        if not rows:
            return
        models = set(existing["model"].unique().to_list())
        dim = len(existing["vector"][0])
        offered = rows[0]
        if models != {offered.model} or dim != len(offered.vector):
            raise StoreMismatch(
                f"store {self.path} holds {dim}-d vectors of {', '.join(sorted(models))}; "
                f"this run embeds {len(offered.vector)}-d vectors with {offered.model}. "
                "Use another data folder or re-embed the store with one model")

    def count(self, video_id: str | None = None) -> int:
        import polars as pl

        frame = self._read()
        if frame is None:
            return 0
        if video_id is not None:
            frame = frame.filter(pl.col("video_id") == video_id)
        return frame.height

    def _loaded(self) -> tuple[Any, Any, BM25] | None:
        """(rows without vectors, normalised float32 matrix, BM25 index), cached by mtime."""
        import numpy as np

        if not self.path.exists():
            return None
        mtime = self.path.stat().st_mtime_ns
        with self._cache_lock:
            if self._cache is None or self._cache[0] != mtime:
                frame = self._read()
                matrix = np.asarray(frame["vector"].to_list(), dtype=np.float32)
                keywords = BM25((frame["title"].fill_null("") + " " + frame["text"]).to_list())
                self._cache = (mtime, frame.drop("vector"), matrix, keywords)
            return self._cache[1], self._cache[2], self._cache[3]

    def search(self, vector: Sequence[float], query: str, k: int = 10, *, model: str,
               filters: SearchFilters | None = None, candidates: int = 50) -> list[SearchHit]:
        import numpy as np

        loaded = self._loaded()
        if loaded is None:
            return []
        frame, matrix, keywords = loaded
        if frame.height and set(frame["model"].unique().to_list()) != {model}:
            raise StoreMismatch(f"store {self.path} was built with "
                                f"{', '.join(sorted(set(frame['model'].to_list())))}, not {model}")
        query_vector = np.asarray(vector, dtype=np.float32)
        if matrix.shape[1] != query_vector.shape[0]:
            raise StoreMismatch(f"store {self.path} holds {matrix.shape[1]}-d vectors; "
                                f"the query is {query_vector.shape[0]}-d")
        allowed = _mask(frame, filters or SearchFilters())
        similarity = np.where(allowed, matrix @ query_vector, -np.inf)
        keyword = np.where(allowed, np.asarray(keywords.scores(query)), 0.0)
        ids = frame["id"].to_list()
        rankings = [
            [ids[i] for i in _top(similarity, candidates, floor=-np.inf)],
            [ids[i] for i in _top(keyword, candidates, floor=0.0)],
        ]
        fused = reciprocal_rank_fusion(rankings)[:k]
        position = {doc_id: i for i, doc_id in enumerate(ids)}
        return [_hit(frame.row(position[doc_id], named=True), score) for doc_id, score in fused]


def _top(scores: Any, n: int, floor: float) -> list[int]:
    """Indices of the ``n`` highest scores above ``floor``, best first."""
    import numpy as np

    eligible = int((scores > floor).sum())
    n = min(n, eligible)
    if n <= 0:
        return []
    top = np.argpartition(-scores, n - 1)[:n]
    return [int(i) for i in top[np.argsort(-scores[top], kind="stable")]]


def _mask(frame: Any, filters: SearchFilters) -> Any:
    import numpy as np

    mask = np.ones(frame.height, dtype=bool)
    for column, value in (("video_id", filters.video_id), ("channel", filters.channel),
                          ("language", filters.language)):
        if value is not None:
            mask &= (frame[column] == value).fill_null(False).to_numpy()
    dates = frame["upload_date"]
    if filters.date_from is not None:
        mask &= (dates >= filters.date_from).fill_null(False).to_numpy()
    if filters.date_to is not None:
        mask &= (dates <= filters.date_to).fill_null(False).to_numpy()
    return mask

def _frame(rows: list[dict]) -> Any:
    import polars as pl

    if not rows:
        return None
    dim = len(rows[0]["vector"])
    types = {
        "id": pl.String, "video_id": pl.String, "chunk_index": pl.Int32, "unit_index": pl.Int32,
        "start": pl.Float64, "end": pl.Float64, "text": pl.String, "title": pl.String,
        "channel": pl.String, "upload_date": pl.String, "language": pl.String, "url": pl.String,
        "model": pl.String, "vector": pl.Array(pl.Float32, dim),
    }
    return pl.DataFrame(rows, schema={name: types[name] for name in COLUMNS})


def _hit(row: dict, score: float) -> SearchHit:
    return SearchHit(id=row["id"], video_id=row["video_id"], title=row["title"], text=row["text"],
                     start=row["start"], end=row["end"], url=row["url"], score=round(score, 6),
                     channel=row["channel"], upload_date=row["upload_date"],
                     language=row["language"])
