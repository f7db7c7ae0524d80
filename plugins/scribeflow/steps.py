"""The pipeline's steps as plain functions: paths in, an artifact written, small fields out.

Each returns a small JSON-able dict (what XCom carries); transcripts, texts and vectors stay
in files under the video's folder. ``dags/video_pipeline.py`` wraps these as tasks.
"""

from __future__ import annotations

import hashlib
import logging
import time
from pathlib import Path
from typing import Any

from scribeflow import subtitles
from scribeflow.chunking import group_chunks, split_into_chunks
from scribeflow.config import LLMSettings, PipelineSettings
from scribeflow.files import DataPaths, VideoPaths, read_json, write_json_atomic, write_text_atomic
from scribeflow.records import Chunk, ChunkRow, Transcript

log = logging.getLogger(__name__)


def download(url: str, settings: PipelineSettings) -> dict[str, Any]:
    from scribeflow.download import download_audio

    source = download_audio(url, DataPaths(settings.data_dir))
    video = DataPaths(settings.data_dir).video(source.video_id)
    log.info("downloaded %s (%s, %.1f s) to %s", url, source.video_id, source.duration, video.root)
    return {"video_id": source.video_id, "video_dir": str(video.root), "title": source.title,
            "duration": source.duration}


def transcribe(video_dir: str, settings: PipelineSettings) -> dict[str, Any]:
    from scribeflow.transcribe import TranscribeOptions
    from scribeflow.transcribe import transcribe as run_whisper

    video = VideoPaths(Path(video_dir))
    meta = read_json(video.metadata)
    options = TranscribeOptions(
        model=settings.whisper_model, device=settings.whisper_device, language=settings.language,
        beam_size=settings.beam_size, batch_size=settings.whisper_batch_size,
        vad_filter=settings.vad_filter,
    )
    transcript = run_whisper(video.audio, meta["video_id"], options)
    write_json_atomic(video.transcript, transcript.to_dict())
    write_text_atomic(video.srt, subtitles.to_srt(transcript.segments))
    write_text_atomic(video.vtt, subtitles.to_vtt(transcript.segments))
    write_text_atomic(video.txt, subtitles.to_text(transcript.segments))
    log.info("transcribed %.1f s of audio in %.2f s: real-time factor %.3f (%s on %s/%s)",
             transcript.duration, transcript.processing_s, transcript.real_time_factor,
             transcript.model, transcript.device, transcript.compute_type)
    if not transcript.segments:
        log.warning("no speech detected in %s: the transcript is empty", meta["video_id"])
    return {"transcript": str(video.transcript), "language": transcript.language,
            "segments": len(transcript.segments), "speech": bool(transcript.segments),
            "real_time_factor": round(transcript.real_time_factor, 4),
            "model": transcript.model, "device": transcript.device}


def split(video_dir: str, settings: PipelineSettings) -> list[dict[str, Any]]:
    """Write ``chunks.json`` and return the groups of chunk indices the LLM task maps over."""
    video = VideoPaths(Path(video_dir))
    transcript = Transcript.from_dict(read_json(video.transcript))
    chunks = split_into_chunks(transcript.segments, settings.chunk_words)
    write_json_atomic(video.chunks, [c.to_dict() for c in chunks])
    groups = group_chunks(len(chunks), settings.max_llm_groups, settings.min_chunks_per_group)
    log.info("%d chunks of about %d words in %d group(s)", len(chunks), settings.chunk_words,
             len(groups))
    return [{"video_dir": video_dir, "group": g, "chunks": indices, "language": transcript.language}
            for g, indices in enumerate(groups)]


def write_document_group(group: dict[str, Any], llm: LLMSettings) -> dict[str, Any]:
    """Run the LLM document stages over one group of chunks; write ``llm/group-NNN.json``."""
    from scribeflow.document import process_group

    video = VideoPaths(Path(group["video_dir"]))
    chunks = [Chunk.from_dict(c) for c in read_json(video.chunks)]
    selected = [chunks[i] for i in group["chunks"]]
    previous = {i: chunks[i - 1].text for i in group["chunks"] if i > 0}
    started = time.perf_counter()
    result = process_group(selected, previous, llm, group.get("language") or "auto")
    elapsed = time.perf_counter() - started
    payload = result.to_dict() | {"group": group["group"], "seconds": round(elapsed, 3)}
    write_json_atomic(video.llm_group(group["group"]), payload)
    if result.llm_used:
        log.info("group %d: %d chunks, %d LLM requests (%d retries) in %.2f s; preamble filter "
                 "removed %.2f%% of the text", group["group"], len(selected),
                 result.usage.requests, result.usage.retries, elapsed, result.removed_pct)
    warnings = [w for c in result.chunks for w in c.warnings]
    return {"group": group["group"], "path": str(video.llm_group(group["group"])),
            "llm_used": result.llm_used, "requests": result.usage.requests,
            "removed_pct": result.removed_pct, "warnings": warnings}


def assemble(video_dir: str, groups: list[dict[str, Any]]) -> dict[str, Any]:
    """Reassemble the groups' chunk texts in order into ``document.md``."""
    from scribeflow.document import assemble_document

    video = VideoPaths(Path(video_dir))
    chunks = [Chunk.from_dict(c) for c in read_json(video.chunks)]
    texts: dict[int, str] = {}
    removed_chars = 0
    for group in groups:
        for row in read_json(Path(group["path"]))["chunks"]:
            texts[row["index"]] = row["text"]
            removed_chars += row["removed_chars"]
    missing = [c.index for c in chunks if c.index not in texts]
    if missing:
        raise RuntimeError(f"chunks {missing} have no LLM group output")
    meta = read_json(video.metadata)
    write_text_atomic(video.document, assemble_document(meta["title"], sorted(texts.items())))
    write_json_atomic(video.document_chunks, [
        {"index": c.index, "start": c.start, "end": c.end, "text": texts[c.index]} for c in chunks
    ])
    raw_chars = sum(len(c.text) for c in chunks)
    return {"document": str(video.document), "chunks": len(chunks),
            "llm_used": any(g["llm_used"] for g in groups),
            "llm_requests": sum(g["requests"] for g in groups),
            "removed_pct": round(100.0 * removed_chars / raw_chars, 2) if raw_chars else 0.0,
            "warnings": [w for g in groups for w in g["warnings"]]}


def chunk_id(video_id: str, chunk_index: int, unit_index: int) -> str:
    """Deterministic row id: the same video, chunk and unit always give the same id."""
    return hashlib.sha256(f"{video_id}\x1f{chunk_index}\x1f{unit_index}".encode()).hexdigest()[:32]


def embed_video(video_dir: str, settings: PipelineSettings) -> tuple[str, list[ChunkRow]]:
    """The video's rows: each chunk's final text embedded in units that fit the model.

    Reads only files in the video's folder, so it also rebuilds a lost store (``reindex``).
    """
    from scribeflow.embedding import embed_texts, load_embedder, model_label, split_units
    from scribeflow.links import deep_link

    video = VideoPaths(Path(video_dir))
    meta = read_json(video.metadata)
    chunks = read_json(video.document_chunks)
    language = read_json(video.transcript).get("language") if video.transcript.exists() else None
    model = load_embedder(settings.embed_model)
    label = model_label(settings.embed_model)
    units = [(chunk, u, text) for chunk in chunks
             for u, text in enumerate(split_units(chunk["text"], model))]
    started = time.perf_counter()
    vectors = embed_texts(model, [text for _, _, text in units], settings.embed_batch_size)
    log.info("embedded %d units of %s with %s in %.2f s", len(units), meta["video_id"], label,
             time.perf_counter() - started)
    return meta["video_id"], [
        ChunkRow(
            id=chunk_id(meta["video_id"], chunk["index"], u), video_id=meta["video_id"],
            chunk_index=chunk["index"], unit_index=u, start=chunk["start"], end=chunk["end"],
            text=text, title=meta["title"], channel=meta.get("channel"),
            upload_date=meta.get("upload_date"), language=language,
            url=deep_link(meta["webpage_url"], chunk["start"]), model=label, vector=vector,
        )
        for (chunk, u, text), vector in zip(units, vectors, strict=True)
    ]


def embed_and_upsert(video_dir: str, settings: PipelineSettings, dsn: str | None = None
                     ) -> dict[str, Any]:
    """Embed the video and replace its rows in the store as a whole."""
    from scribeflow.embedding import model_label
    from scribeflow.store import open_store

    video_id, rows = embed_video(video_dir, settings)
    store = open_store(settings, dsn)
    result = store.upsert_video(video_id, rows)
    log.info("%s store: %d rows for %s (was %d), %d in all", store.name, result.after, video_id,
             result.before, result.total)
    return {"rows": result.after, "replaced": result.before, "total_rows": result.total,
            "store": store.name, "embed_model": model_label(settings.embed_model)}


def reindex(settings: PipelineSettings, dsn: str | None = None, batch_rows: int = 20_000,
            report: Any = None) -> dict[str, Any]:
    """Rebuild the store from every processed video on disk, in bulk writes of about
    ``batch_rows`` rows. ``report(video_id, rows, replaced)`` is called per video."""
    from scribeflow.store import open_store

    folders = sorted(p for p in (settings.data_dir / "videos").glob("*")
                     if (p / "document_chunks.json").exists())
    store = open_store(settings, dsn)
    pending: dict[str, list[ChunkRow]] = {}
    total = 0

    def flush() -> None:
        nonlocal total
        for result in store.upsert_videos(pending):
            total = result.total
            if report is not None:
                report(result.video_id, result.after, result.before)
        pending.clear()

    for folder in folders:
        video_id, rows = embed_video(str(folder), settings)
        pending[video_id] = rows
        if sum(len(r) for r in pending.values()) >= batch_rows:
            flush()
    if pending:
        flush()
    return {"videos": len(folders), "total_rows": total, "store": store.name}
