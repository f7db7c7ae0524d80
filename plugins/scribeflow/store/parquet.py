"""The local store: one Parquet file, upserted by id, replaced atomically.

Every write reads the file, drops the video's old rows (and any row with an incoming id),
appends the new ones and writes a new file that replaces the old with ``os.replace``: a
crash leaves the old file, never a torn one. Writers take a file lock. Reads keep the
loaded matrix while the file's mtime is unchanged, so repeated queries do not re-read it.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scribeflow.files import locked, write_bytes_atomic
from scribeflow.ranking import BM25, reciprocal_rank_fusion
from scribeflow.records import ChunkRow, SearchFilters, SearchHit
from scribeflow.store.base import StoreMismatch, UpsertResult, check_batches

COLUMNS = ("id", "video_id", "chunk_index", "unit_index", "start", "end", "text", "title",
           "channel", "upload_date", "language", "url", "model", "vector")


@dataclass(frozen=True)
class _Loaded:
    frame: Any
    matrix: Any
    keywords: BM25
    models: frozenset[str]


class ParquetStore:
    name = "parquet"

    def __init__(self, path: Path):
        self.path = Path(path)
        self._cache: tuple[int, _Loaded] | None = None
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
        return self.upsert_videos({video_id: rows})[0]

    def upsert_videos(self, batches: Mapping[str, Sequence[ChunkRow]]) -> list[UpsertResult]:
        import polars as pl

        check_batches(batches)
        all_rows = [r for rows in batches.values() for r in rows]
        videos = list(batches)
        with locked(self.path):
            existing = self._read()
            new = _frame(all_rows)
            before: dict[str, int] = dict.fromkeys(videos, 0)
            if existing is not None and existing.height:
                self._check_compatible(existing, all_rows)
                counts = existing.filter(pl.col("video_id").is_in(videos))["video_id"].value_counts()
                before.update(dict(zip(counts["video_id"], counts["count"], strict=True)))
                ids = new["id"] if new is not None else pl.Series([], dtype=pl.String)
                existing = existing.filter(~pl.col("video_id").is_in(videos) & ~pl.col("id").is_in(ids))
                combined = pl.concat([existing, new]) if new is not None else existing
            else:
                combined = new
            total = combined.height if combined is not None else 0
            results = [UpsertResult(video_id=v, before=before[v], after=len(batches[v]), total=total)
                       for v in videos]
            if combined is None or (not all_rows and not any(before.values())):
                return results  # nothing to add or remove: leave the file untouched
            buffer = io.BytesIO()
            combined.write_parquet(buffer, compression="zstd")
            write_bytes_atomic(self.path, buffer.getvalue())
            return results

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

    def video_ids(self) -> set[str]:
        import polars as pl

        if not self.path.exists():
            return set()
        return set(pl.scan_parquet(self.path).select("video_id").unique().collect()["video_id"])

    def _loaded(self) -> _Loaded | None:
        """The file's rows, vectors, keyword index and models, cached until its mtime changes."""
        import numpy as np

        if not self.path.exists():
            return None
        mtime = self.path.stat().st_mtime_ns
        with self._cache_lock:
            if self._cache is None or self._cache[0] != mtime:
                frame = self._read()
                self._cache = (mtime, _Loaded(
                    frame=frame.drop("vector"),
                    matrix=np.asarray(frame["vector"].to_list(), dtype=np.float32),
                    keywords=BM25((frame["title"].fill_null("") + " " + frame["text"]).to_list()),
                    models=frozenset(frame["model"].unique().to_list()),
                ))
            return self._cache[1]

    def search(self, vector: Sequence[float], query: str, k: int = 10, *, model: str,
               filters: SearchFilters | None = None, candidates: int = 50) -> list[SearchHit]:
        import numpy as np

        loaded = self._loaded()
        if loaded is None:
            return []
        frame, matrix, keywords = loaded.frame, loaded.matrix, loaded.keywords
        if frame.height and loaded.models != {model}:
            raise StoreMismatch(f"store {self.path} was built with "
                                f"{', '.join(sorted(loaded.models))}, not {model}")
        query_vector = np.asarray(vector, dtype=np.float32)
        if matrix.shape[1] != query_vector.shape[0]:
            raise StoreMismatch(f"store {self.path} holds {matrix.shape[1]}-d vectors; "
                                f"the query is {query_vector.shape[0]}-d")
        allowed = _mask(frame, filters or SearchFilters())
        similarity = np.where(allowed, matrix @ query_vector, -np.inf)
        keyword = np.where(allowed, keywords.scores(query), 0.0)
        rankings = [_top(similarity, candidates, floor=-np.inf), _top(keyword, candidates, floor=0.0)]
        fused = reciprocal_rank_fusion(rankings)[:k]  # fused on row positions
        return [_hit(frame.row(i, named=True), score) for i, score in fused]


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

def _frame(rows: Sequence[ChunkRow]) -> Any:
    """Rows as a frame, built column by column (vectors as one float32 matrix)."""
    import numpy as np
    import polars as pl

    if not rows:
        return None
    types = {
        "id": pl.String, "video_id": pl.String, "chunk_index": pl.Int32, "unit_index": pl.Int32,
        "start": pl.Float64, "end": pl.Float64, "text": pl.String, "title": pl.String,
        "channel": pl.String, "upload_date": pl.String, "language": pl.String, "url": pl.String,
        "model": pl.String,
    }
    frame = pl.DataFrame({name: [getattr(r, name) for r in rows] for name in types},
                         schema=types)
    vectors = np.asarray([r.vector for r in rows], dtype=np.float32)
    return frame.with_columns(pl.Series("vector", vectors)).select(COLUMNS)

def _hit(row: dict, score: float) -> SearchHit:
    return SearchHit(id=row["id"], video_id=row["video_id"], title=row["title"], text=row["text"],
                     start=row["start"], end=row["end"], url=row["url"], score=round(score, 6),
                     channel=row["channel"], upload_date=row["upload_date"],
                     language=row["language"])
