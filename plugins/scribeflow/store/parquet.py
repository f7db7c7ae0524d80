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
from scribeflow.records import ChunkRow, SearchHit
from scribeflow.store.base import StoreMismatch, UpsertResult


class ParquetStore:
    name = "parquet"

    def __init__(self, path: Path):
        self.path = Path(path)
        self._cache: tuple[int, Any, Any] | None = None
        self._cache_lock = threading.Lock()

    def _read(self) -> Any:
        import polars as pl

        if not self.path.exists():
            return None
        return pl.read_parquet(self.path)

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

    def _matrix(self) -> tuple[Any, Any] | None:
        """(rows without vectors, normalised float32 matrix), cached by file mtime."""
        import numpy as np

        if not self.path.exists():
            return None
        mtime = self.path.stat().st_mtime_ns
        with self._cache_lock:
            if self._cache is None or self._cache[0] != mtime:
                frame = self._read()
                matrix = np.asarray(frame["vector"].to_list(), dtype=np.float32)
                self._cache = (mtime, frame.drop("vector"), matrix)
            return self._cache[1], self._cache[2]

    def search(self, vector: Sequence[float], k: int = 10, *, model: str,
               video_id: str | None = None) -> list[SearchHit]:
        import numpy as np

        loaded = self._matrix()
        if loaded is None:
            return []
        frame, matrix = loaded
        if frame.height and set(frame["model"].unique().to_list()) != {model}:
            raise StoreMismatch(f"store {self.path} was built with "
                                f"{', '.join(sorted(set(frame['model'].to_list())))}, not {model}")
        query = np.asarray(vector, dtype=np.float32)
        if matrix.shape[1] != query.shape[0]:
            raise StoreMismatch(f"store {self.path} holds {matrix.shape[1]}-d vectors; "
                                f"the query is {query.shape[0]}-d")
        scores = matrix @ query
        if video_id is not None:
            scores = np.where(frame["video_id"].to_numpy() == video_id, scores, -np.inf)
        k = min(k, int(np.isfinite(scores).sum()))
        if k <= 0:
            return []
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [_hit(frame.row(int(i), named=True), float(scores[i])) for i in top]


def _frame(rows: list[dict]) -> Any:
    import polars as pl

    if not rows:
        return None
    dim = len(rows[0]["vector"])
    schema = {
        "id": pl.String, "video_id": pl.String, "chunk_index": pl.Int32, "unit_index": pl.Int32,
        "start": pl.Float64, "end": pl.Float64, "text": pl.String, "title": pl.String,
        "channel": pl.String, "upload_date": pl.String, "url": pl.String, "model": pl.String,
        "vector": pl.Array(pl.Float32, dim),
    }
    return pl.DataFrame(rows, schema=schema)


def _hit(row: dict, score: float) -> SearchHit:
    return SearchHit(id=row["id"], video_id=row["video_id"], title=row["title"], text=row["text"],
                     start=row["start"], end=row["end"], url=row["url"], score=round(score, 6))
