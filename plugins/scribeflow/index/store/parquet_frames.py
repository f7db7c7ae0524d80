"""The Parquet store's frames: rows to and from Arrow/pandas frames of its columns, one file
per video, and the masks and top-k a search takes from them."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from scribeflow.core.files import (
    safe_name,
    write_bytes_atomic,
)
from scribeflow.core.records import SUMMARY_CHUNK, ChunkRow, SearchFilters, SearchHit
from scribeflow.index.moments import pack
from scribeflow.index.ranking import Ranked

COLUMNS = ("id", "video_id", "chunk_index", "unit_index", "start", "end", "text", "title",
           "channel", "upload_date", "language", "url", "model", "content_hash", "moments",
           "speakers", "vector")


def _top(scores: Any, n: int, floor: float) -> list[int]:
    """Indices of the ``n`` highest scores above ``floor``, best first, ties in row order.

    torch's top-k (a radix select; torch is loaded to embed the query) took 0.2–0.3 ms on
    100k scores where numpy's ``argpartition`` took 1.2–1.5 ms, twice per search."""
    import numpy as np
    import torch

    n = min(n, scores.size)
    if n <= 0:
        return []
    values, indices = torch.from_numpy(scores).topk(n, sorted=False)
    top = np.sort(indices.numpy()[values.numpy() > floor])
    return [int(i) for i in top[np.argsort(-scores[top], kind="stable")]]


def _mask(frame: Any, filters: SearchFilters) -> Any:
    """The rows ``filters`` admit, or None when they admit every row."""
    import numpy as np

    if all(getattr(filters, name) is None for name in
           ("video_id", "channel", "language", "date_from", "date_to", "speaker")):
        return None
    mask = np.ones(frame.height, dtype=bool)
    if filters.speaker is not None:
        mask &= frame["speakers"].list.contains(filters.speaker).fill_null(False).to_numpy()
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


def _file_name(video_id: str, frame: Any) -> str:
    """A new name for each version of a video's file (the old one is removed only after the
    manifest names the new one): the video id, readable, and a digest of its rows' ids, times,
    texts and content hashes (which change when the rows are made differently)."""
    digest = hashlib.sha256(video_id.encode())
    for column in ("id", "start", "text", "content_hash"):
        digest.update(json.dumps(frame[column].to_list()).encode())
    return f"{safe_name(video_id)[:80]}-{digest.hexdigest()[:12]}.parquet"


def _write_frame(path: Path, frame: Any) -> None:
    buffer = io.BytesIO()
    frame.write_parquet(buffer, compression="zstd")
    write_bytes_atomic(path, buffer.getvalue())


def _read_frames(paths: Sequence[Path]) -> list[Any]:
    import polars as pl

    return [_with_all_columns(pl.read_parquet(p)) for p in paths]


def _with_all_columns(frame: Any) -> Any:
    """``frame`` in :data:`COLUMNS` order, with the columns files of older versions lack
    (a row's language, its content hash, moments, speakers) as nulls."""
    import polars as pl

    missing = [c for c in ("language", "content_hash") if c not in frame.columns]
    if missing:
        frame = frame.with_columns(pl.lit(None, dtype=pl.String).alias(c) for c in missing)
    if "moments" not in frame.columns:
        frame = frame.with_columns(pl.lit(None, dtype=pl.Binary).alias("moments"))
    if "speakers" not in frame.columns:
        frame = frame.with_columns(pl.lit(None, dtype=pl.List(pl.String)).alias("speakers"))
    return frame.select(COLUMNS)


def _matrix(frame: Any, dim: int) -> Any:
    import numpy as np

    if not frame.height:
        return np.zeros((0, dim), np.float32)
    matrix = frame["vector"].to_numpy()
    if matrix.dtype == object:  # list-typed vectors (files of older versions)
        matrix = np.asarray(frame["vector"].to_list())
    return matrix.astype(np.float32, copy=False)


def _frame_schema() -> Any:
    import polars as pl

    return pl.DataFrame(schema=_types() | {"vector": pl.Array(pl.Float32, 1)}).select(COLUMNS)


def _types() -> dict[str, Any]:
    import polars as pl

    return {
        "id": pl.String, "video_id": pl.String, "chunk_index": pl.Int32, "unit_index": pl.Int32,
        "start": pl.Float64, "end": pl.Float64, "text": pl.String, "title": pl.String,
        "channel": pl.String, "upload_date": pl.String, "language": pl.String, "url": pl.String,
        "model": pl.String, "content_hash": pl.String, "moments": pl.Binary,
        "speakers": pl.List(pl.String),
    }


def _frame(rows: Sequence[ChunkRow]) -> Any:
    """Rows as a frame, built column by column (vectors as one float32 matrix)."""
    import numpy as np
    import polars as pl

    if not rows:
        return None
    types = _types()
    frame = pl.DataFrame({name: [_value(r, name) for r in rows] for name in types}, schema=types)
    vectors = np.asarray([r.vector for r in rows], dtype=np.float32)
    return frame.with_columns(pl.Series("vector", vectors)).select(COLUMNS)


def _value(row: ChunkRow, column: str) -> Any:
    if column == "moments":
        return pack(row.moments)
    if column == "speakers":
        return list(row.speakers)
    return getattr(row, column)


def _hit(row: dict, ranked: Ranked) -> SearchHit:
    return SearchHit(
        id=row["id"], video_id=row["video_id"], title=row["title"], text=row["text"],
        start=row["start"], end=row["end"], url=row["url"], score=round(ranked.score, 6),
        channel=row["channel"], upload_date=row["upload_date"], language=row["language"],
        similarity=round(ranked.similarity, 4), weak=ranked.weak,
        speakers=tuple(row["speakers"] or ()), summary=row["chunk_index"] == SUMMARY_CHUNK)


