"""Atomic file writes and the artifact layout: the one place that knows where files live.

Layout under the data folder (``./data`` or ``$SCRIBEFLOW_DATA``)::

    videos/<video_id>/metadata.json     source metadata (id, title, channel, upload date, …)
    videos/<video_id>/audio.wav         16 kHz mono PCM
    videos/<video_id>/transcript.json   segments + words + settings (whisper's)
    videos/<video_id>/speakers.json     who spoke when: turns, each speaker's talk time
    videos/<video_id>/transcript.srt .vtt .txt  subtitles and text, with the speakers
    videos/<video_id>/chunks.json       chunks with start/end times
    videos/<video_id>/llm/group-NNN.json  per-group LLM stage outputs
    videos/<video_id>/document.md       the reassembled document
    videos/<video_id>/document_chunks.json  each chunk's final text, the input of embedding
    videos/<video_id>/chapters.json, chapters.txt   chapters and the YouTube-style list
    videos/<video_id>/quality.json      the quality score
    videos/<video_id>/summary.json      the abstract and key moments (or why there are none)
    videos/<video_id>/stored.json       when the video was first stored, by which run, source
    videos/<video_id>/quiz.json, quiz.md, quiz_answer_key.md, quiz.html, quiz.pdf
    videos/<video_id>/document.html, document.pdf
    videos/<video_id>/processing.json   how the video was processed (models, prompt versions,
                                        settings, timings, tokens, cost)
    store/chunks/<video>-<digest>.parquet  the Parquet vector store, one file per video
    store/chunks.manifest.json          which file holds each video's rows
    runs/<run_id>/summary.json          one run's summary (status, figures, the cause of a failure)
    cache/llm/<key>.json                LLM answers by prompt, version, model and input
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def write_bytes_atomic(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file and ``os.replace``.

    Readers see the old file or the new one, never a half-written one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_text_atomic(path: Path, text: str) -> Path:
    return write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: Path, payload: Any) -> Path:
    return write_text_atomic(path, json.dumps(payload, indent=2, ensure_ascii=False) + "\n")


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


#: Local folders that stand for a data folder on object storage (see
#: :func:`scribeflow.core.objects.working_copy`): their root, and the store behind them.
_MIRRORS: dict[Path, Any] = {}


@contextmanager
def mirrored(root: Path, storage: Any) -> Iterator[None]:
    """While inside, ``root`` stands for ``storage``: :func:`locked` updates of files under
    it take the store's lock and work on its latest copy, and :func:`refresh` fetches one."""
    _MIRRORS[Path(root)] = storage
    try:
        yield
    finally:
        _MIRRORS.pop(Path(root), None)


def _mirror_of(path: Path) -> tuple[Any, str] | None:
    for root, storage in _MIRRORS.items():
        if path.is_relative_to(root):
            return storage, path.relative_to(root).as_posix()
    return None


def refresh(path: Path) -> None:
    """Bring a mirrored file up to date with the store (removed if the store has none);
    nothing for a file of a local data folder."""
    if (found := _mirror_of(Path(path))) is not None:
        storage, rel = found
        try:
            storage.download(rel, Path(path))
        except FileNotFoundError:
            Path(path).unlink(missing_ok=True)


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` for a read-modify-write update: an advisory lock
    on ``path``.lock, or, for a file of a folder :func:`mirrored` from object storage, the
    store's lock on it, with its latest copy fetched before and the result published after
    (so tasks on different hosts update it one after the other)."""
    if (found := _mirror_of(Path(path))) is not None:
        storage, rel = found
        with storage.lock(rel):
            refresh(path)
            yield
            if Path(path).exists():
                storage.upload(Path(path), rel)
        return
    lock_path = Path(str(path) + ".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(text: str) -> str:
    """A file-name-safe rendering of ``text`` (run ids contain ':' and '+')."""
    return _UNSAFE.sub("_", text).strip("._") or "_"


@dataclass(frozen=True)
class VideoPaths:
    """Where one video's artifacts live."""

    root: Path

    @property
    def metadata(self) -> Path:
        return self.root / "metadata.json"

    @property
    def processing(self) -> Path:
        return self.root / "processing.json"

    @property
    def source_dir(self) -> Path:
        return self.root / "source"

    @property
    def audio(self) -> Path:
        return self.root / "audio.wav"

    @property
    def transcript(self) -> Path:
        return self.root / "transcript.json"

    @property
    def speakers(self) -> Path:
        return self.root / "speakers.json"

    @property
    def srt(self) -> Path:
        return self.root / "transcript.srt"

    @property
    def vtt(self) -> Path:
        return self.root / "transcript.vtt"

    @property
    def txt(self) -> Path:
        return self.root / "transcript.txt"

    @property
    def chunks(self) -> Path:
        return self.root / "chunks.json"

    @property
    def llm_dir(self) -> Path:
        return self.root / "llm"

    def llm_group(self, group: int) -> Path:
        return self.llm_dir / f"group-{group:03d}.json"

    @property
    def document(self) -> Path:
        return self.root / "document.md"

    @property
    def chapters(self) -> Path:
        return self.root / "chapters.json"

    @property
    def chapters_txt(self) -> Path:
        return self.root / "chapters.txt"

    @property
    def quality(self) -> Path:
        return self.root / "quality.json"

    @property
    def summary(self) -> Path:
        return self.root / "summary.json"

    @property
    def stored(self) -> Path:
        return self.root / "stored.json"

    @property
    def quiz(self) -> Path:
        return self.root / "quiz.json"

    @property
    def quiz_md(self) -> Path:
        return self.root / "quiz.md"

    @property
    def quiz_key(self) -> Path:
        return self.root / "quiz_answer_key.md"

    @property
    def quiz_html(self) -> Path:
        return self.root / "quiz.html"

    @property
    def quiz_pdf(self) -> Path:
        return self.root / "quiz.pdf"

    @property
    def document_html(self) -> Path:
        return self.root / "document.html"

    @property
    def document_pdf(self) -> Path:
        return self.root / "document.pdf"

    @property
    def document_chunks(self) -> Path:
        return self.root / "document_chunks.json"

    # a translation's files: the same names with the language before the suffix

    def transcript_in(self, language: str) -> Path:
        """Whisper's own translation of the speech (``transcript.en.json``)."""
        return self.root / f"transcript.{language}.json"

    def srt_in(self, language: str) -> Path:
        return self.root / f"transcript.{language}.srt"

    def vtt_in(self, language: str) -> Path:
        return self.root / f"transcript.{language}.vtt"

    def document_in(self, language: str) -> Path:
        return self.root / f"document.{language}.md"

    def document_html_in(self, language: str) -> Path:
        return self.root / f"document.{language}.html"

    def document_chunks_in(self, language: str) -> Path:
        return self.root / f"document_chunks.{language}.json"


@dataclass(frozen=True)
class DataPaths:
    """The data folder: videos, the Parquet store and run summaries."""

    root: Path

    def video(self, video_id: str) -> VideoPaths:
        return VideoPaths(self.root / "videos" / safe_name(video_id))

    @property
    def downloads(self) -> Path:
        return self.root / "downloads"

    @property
    def store_dir(self) -> Path:
        return self.root / "store"

    @property
    def parquet_store(self) -> Path:
        """The Parquet store's folder of per-video files (its manifest beside it)."""
        return self.store_dir / "chunks"

    @property
    def llm_cache(self) -> Path:
        return self.root / "cache" / "llm"

    def run_summary(self, run_id: str) -> Path:
        return self.root / "runs" / safe_name(run_id) / "summary.json"

    def reuse_record(self, key: str) -> Path:
        """The record of the run that processed one set of inputs (``scribeflow.pipeline.reuse``)."""
        return self.root / "reuse" / f"{safe_name(key)}.json"
