"""The local store: a folder of Parquet files, one per video, and a manifest.

``store/chunks/`` holds each video's rows in its own file; ``store/chunks.manifest.json``
names the file that holds each video now, its row count, and the store's model and vector
size. A video's upsert writes a new file for that video, then the manifest (both through a
temporary file and ``os.replace``), then removes the video's old file: its cost is that
video's rows, not the store's (P5: 100 rows into a 100k-row store). A crash leaves the old
manifest and the files it names, never a torn store; files the manifest does not name are
left-overs of a crash, ignored by reads and removed by the next write. Writers take a file
lock. Reads keep the loaded matrix and keyword index while the manifest is unchanged, and on
a change re-read only the files that changed.

A store written before per-video files (one ``store/chunks.parquet``) is split into them by
the first write.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scribeflow.core.batching import Batcher, one_blas_thread
from scribeflow.core.files import (
    locked,
    read_json,
    write_json_atomic,
)
from scribeflow.core.records import ChunkRow, SearchFilters, SearchHit
from scribeflow.index.moments import landed, unpack
from scribeflow.index.ranking import BM25, fuse
from scribeflow.index.store.base import StoreMismatch, UpsertResult, check_batches
from scribeflow.index.store.parquet_frames import (
    _file_name,
    _frame,
    _frame_schema,
    _hit,
    _mask,
    _matrix,
    _read_frames,
    _top,
    _with_all_columns,
    _write_frame,
)


@dataclass(frozen=True)
class _Loaded:
    frame: Any
    matrix: Any
    keywords: BM25
    models: frozenset[str]


@dataclass
class _Manifest:
    """Which file holds each video's rows, how many, and the store's model and vector size."""

    videos: dict[str, dict[str, Any]]
    model: str | None = None
    dim: int | None = None

    @property
    def total(self) -> int:
        return sum(v["rows"] for v in self.videos.values())

    def as_json(self) -> dict[str, Any]:
        return {"model": self.model, "dim": self.dim, "videos": self.videos}


class ParquetStore:
    name = "parquet"

    def __init__(self, path: Path):
        #: The folder of per-video files; the manifest and the lock sit beside it.
        self.path = Path(path)
        self.manifest_path = self.path.with_name(self.path.name + ".manifest.json")
        self._cache: tuple[tuple[int, int, int], _Loaded] | None = None
        self._parts: dict[str, Any] = {}  # file name -> its frame, for the next reload
        self._cache_lock = threading.Lock()

    @property
    def legacy_path(self) -> Path:
        """The single file of stores written before per-video files."""
        return self.path.with_name(self.path.name + ".parquet")

    def _manifest(self) -> _Manifest:
        if not self.manifest_path.exists():
            return _Manifest(videos={})
        raw = read_json(self.manifest_path)
        return _Manifest(videos=raw["videos"], model=raw.get("model"), dim=raw.get("dim"))

    def upsert_video(self, video_id: str, rows: Sequence[ChunkRow]) -> UpsertResult:
        return self.upsert_videos({video_id: rows})[0]

    @contextmanager
    def bulk_session(self) -> Iterator[None]:
        """Nothing to set aside: each video's upsert writes only its own file."""
        yield

    def upsert_videos(self, batches: Mapping[str, Sequence[ChunkRow]]) -> list[UpsertResult]:
        check_batches(batches)
        all_rows = [r for rows in batches.values() for r in rows]
        with locked(self.path):
            self._split_legacy()
            manifest = self._manifest()
            self._check_compatible(manifest, all_rows)
            before = {v: manifest.videos.get(v, {}).get("rows", 0) for v in batches}
            if not all_rows and not any(before.values()):
                return [UpsertResult(video_id=v, before=0, after=0, total=manifest.total)
                        for v in batches]
            if all_rows:
                manifest.model, manifest.dim = all_rows[0].model, len(all_rows[0].vector)
            replaced = []
            # one frame for all rows, split by video: cheaper than a frame per video
            frames = _frame(all_rows).partition_by("video_id", as_dict=True) if all_rows else {}
            for video_id, rows in batches.items():
                old = manifest.videos.pop(video_id, None)
                if old:
                    replaced.append(old["file"])
                if rows:
                    frame = frames[(video_id,)]
                    name = _file_name(video_id, frame)
                    _write_frame(self.path / name, frame)
                    manifest.videos[video_id] = {"file": name, "rows": len(rows)}
            if not manifest.videos:
                manifest.model = manifest.dim = None
            write_json_atomic(self.manifest_path, manifest.as_json())
            current = {v["file"] for v in manifest.videos.values()}
            for name in replaced:
                if name not in current:
                    (self.path / name).unlink(missing_ok=True)
            self._remove_leftovers(current)
            total = manifest.total
            return [UpsertResult(video_id=v, before=before[v], after=len(batches[v]), total=total)
                    for v in batches]

    def _split_legacy(self) -> None:
        """Turn a store written as one file into per-video files (under the lock)."""
        import polars as pl

        if not self.legacy_path.exists() or self.manifest_path.exists():
            return
        frame = _with_all_columns(pl.read_parquet(self.legacy_path))
        manifest = _Manifest(videos={})
        for (video_id,), part in frame.partition_by("video_id", as_dict=True).items():
            name = _file_name(video_id, part)
            _write_frame(self.path / name, part)
            manifest.videos[video_id] = {"file": name, "rows": part.height}
        if frame.height:
            manifest.model, manifest.dim = frame["model"][0], len(frame["vector"][0])
        write_json_atomic(self.manifest_path, manifest.as_json())
        self.legacy_path.unlink()

    def _remove_leftovers(self, current: set[str]) -> None:
        """Files no manifest names: a crashed write's, or a replaced file left by one (under
        the lock, so no other writer's temporary file is in flight)."""
        if not self.path.exists() or sum(1 for _ in os.scandir(self.path)) <= len(current):
            return  # the usual case: nothing but the current files
        for entry in os.scandir(self.path):
            if entry.name not in current:
                Path(entry.path).unlink(missing_ok=True)

    def _check_compatible(self, manifest: _Manifest, rows: Sequence[ChunkRow]) -> None:
        if not rows or manifest.model is None:
            return
        offered = rows[0]
        if manifest.model != offered.model or manifest.dim != len(offered.vector):
            raise StoreMismatch(
                f"store {self.path} holds {manifest.dim}-d vectors of {manifest.model}; "
                f"this run embeds {len(offered.vector)}-d vectors with {offered.model}. "
                "Use another data folder or re-embed the store with one model")

    def video_rows(self, video_id: str, vectors: bool = False) -> list[ChunkRow]:
        self._split_legacy_once()
        entry = self._manifest().videos.get(video_id)
        if entry is None:
            return []
        try:
            frame = _read_frames([self.path / entry["file"]])[0]
        except FileNotFoundError:  # replaced by a writer meanwhile: read the new manifest
            return self.video_rows(video_id, vectors)
        frame = frame.sort("chunk_index", "unit_index")
        matrix = _matrix(frame, len(frame["vector"][0]) if frame.height else 0) if vectors else None
        return [ChunkRow(**{k: v for k, v in row.items() if k not in ("moments", "speakers")},
                         moments=unpack(row["moments"]), speakers=tuple(row["speakers"] or ()),
                         vector=matrix[i] if matrix is not None else ())
                for i, row in enumerate(frame.drop("vector").iter_rows(named=True))]

    def count(self, video_id: str | None = None) -> int:
        manifest = self._current_manifest()
        if video_id is not None:
            return manifest.videos.get(video_id, {}).get("rows", 0)
        return manifest.total

    def video_ids(self) -> set[str]:
        return set(self._current_manifest().videos)

    def _current_manifest(self) -> _Manifest:
        """The manifest; a store still in one legacy file is split first."""
        self._split_legacy_once()
        return self._manifest()

    def _split_legacy_once(self) -> None:
        if self.legacy_path.exists() and not self.manifest_path.exists():
            with locked(self.path):
                self._split_legacy()

    def _signature(self) -> tuple[int, int, int] | None:
        """Changes with every write: each manifest is a new file (``os.replace``)."""
        try:
            stat = self.manifest_path.stat()
        except FileNotFoundError:
            return None
        return (stat.st_ino, stat.st_mtime_ns, stat.st_size)

    def _loaded(self) -> _Loaded | None:
        """The store's rows, vectors, keyword index and models, cached until the manifest
        changes; then only the files that changed are read."""
        import polars as pl

        self._split_legacy_once()
        signature = self._signature()
        if signature is None:
            return None
        with self._cache_lock:
            if self._cache is None or self._cache[0] != signature:
                manifest = self._manifest()
                names = sorted(v["file"] for v in manifest.videos.values())
                parts = {n: self._parts.get(n) for n in names}
                missing = [n for n, part in parts.items() if part is None]
                if missing:
                    for name, part in zip(missing, _read_frames([self.path / n for n in missing]),
                                          strict=True):
                        parts[name] = part
                self._parts = parts
                frame = (pl.concat(list(parts.values()), rechunk=True) if parts
                         else _frame_schema())
                self._cache = (signature, _Loaded(
                    frame=frame.drop("vector"),
                    matrix=_matrix(frame, manifest.dim or 0),
                    keywords=BM25((frame["title"].fill_null("") + " " + frame["text"]).to_list(),
                                  frame["language"].to_list()),
                    models=frozenset(frame["model"].unique().to_list()),
                ))
            return self._cache[1]

    def search(self, vector: Sequence[float], query: str, k: int = 10, *, model: str,
               filters: SearchFilters | None = None, candidates: int = 50) -> list[SearchHit]:
        import numpy as np

        loaded = self._loaded()
        if loaded is None or not loaded.frame.height:
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
        similarity = _SIMILARITIES.submit((matrix, query_vector))
        keyword = keywords.scores(query)
        if allowed is not None:
            similarity[~allowed] = -np.inf
            keyword[~allowed] = 0.0
        by_vector = _top(similarity, candidates, floor=-np.inf)
        by_keyword = _top(keyword, candidates, floor=0.0)
        ranked = fuse({i: float(similarity[i]) for i in (*by_vector, *by_keyword)},
                      {i: float(keyword[i]) for i in by_keyword}, k)  # on row positions
        rows = [frame.row(r.key, named=True) for r in ranked]
        return landed([_hit(row, r) for row, r in zip(rows, ranked, strict=True)],
                      [row["moments"] for row in rows], query_vector)


def _similarities(requests: Sequence[tuple[Any, Any]]) -> list[Any]:
    """Each request's cosine similarities (its query vector against every stored vector),
    the requests on one matrix computed in one product: the matrix is read from memory once
    for all of them (P11: 100k vectors, one query 15 ms, sixteen 35 ms on one core)."""
    import numpy as np

    out: list[Any] = [None] * len(requests)
    by_matrix: dict[int, list[int]] = {}
    for i, (matrix, _) in enumerate(requests):
        by_matrix.setdefault(id(matrix), []).append(i)
    for positions in by_matrix.values():
        matrix = requests[positions[0]][0]
        queries = np.stack([requests[i][1] for i in positions])
        for i, row in zip(positions, queries @ matrix.T, strict=True):
            out[i] = row
    return out


_SIMILARITIES = Batcher(_similarities, name="scribeflow-parquet-search", max_batch=32,
                        on_start=one_blas_thread)


def similarity_batching() -> dict[str, int]:
    """Searches of this process's Parquet stores, and the matrix products that answered them."""
    return _SIMILARITIES.to_dict()
