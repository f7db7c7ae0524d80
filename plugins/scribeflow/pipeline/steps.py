"""The pipeline's steps as plain functions: paths in, an artifact written, small fields out.

Each returns a small JSON-able dict (what XCom carries); transcripts, texts and vectors stay
in files under the video's folder. ``dags/video_pipeline.py`` wraps these as tasks.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scribeflow.core.config import LLMSettings, PipelineSettings, TranscriptionSettings
from scribeflow.core.files import (
    DataPaths,
    VideoPaths,
    read_json,
    write_json_atomic,
    write_text_atomic,
)
from scribeflow.core.records import Chunk, ChunkRow, Transcript
from scribeflow.core.timings import peak_memory_mb
from scribeflow.index import moments
from scribeflow.speech import subtitles
from scribeflow.writing.chunking import group_chunks, split_into_chunks

if TYPE_CHECKING:
    from scribeflow.sources.download import DownloadOptions
    from scribeflow.speech.whisper import TranscribeOptions

log = logging.getLogger(__name__)


def download(url: str, settings: PipelineSettings,
             options: DownloadOptions | None = None) -> dict[str, Any]:
    """Download ``url`` into its video folder, with ``options`` (cookies, a sleep range)."""
    from dataclasses import replace

    from scribeflow.sources.download import DownloadOptions, download_audio

    options = replace(options or DownloadOptions(), max_duration=settings.max_duration)
    source = download_audio(url, DataPaths(settings.data_dir), options)
    video = DataPaths(settings.data_dir).video(source.video_id)
    log.info("downloaded %s (%s, %.1f s) to %s", url, source.video_id, source.duration, video.root)
    return {"video_id": source.video_id, "video_dir": str(video.root), "title": source.title,
            "duration": source.duration}


def transcribe(video_dir: str, settings: PipelineSettings,
               endpoint: TranscriptionSettings | None = None) -> dict[str, Any]:
    """Transcribe the video's audio with the run's transcriber (faster-whisper here, or the
    ``endpoint`` with ``transcriber=endpoint``), or reuse its transcript when the audio, the
    transcriber, its model and the settings are the same as when it was made."""
    from scribeflow.core.cache import digest, file_digest

    video = VideoPaths(Path(video_dir))
    meta = read_json(video.metadata)
    if settings.transcriber == "endpoint":
        from scribeflow.speech.endpoint import transcribe_endpoint

        endpoint = endpoint or TranscriptionSettings.from_env()
        key = digest(file_digest(video.audio), "endpoint", endpoint.endpoint, endpoint.model,
                     settings.language)

        def run() -> Transcript:
            return transcribe_endpoint(video.audio, meta["video_id"], endpoint, settings.language,
                                       llm_cache(settings))
    else:
        from scribeflow.speech.whisper import resolve_device, resolve_model
        from scribeflow.speech.whisper import transcribe as run_whisper

        options = transcribe_options(settings)
        device = resolve_device(options.device)
        key = digest(file_digest(video.audio), resolve_model(options.model, device), device,
                     repr(sorted(vars(options).items())))

        def run() -> Transcript:
            from scribeflow.core.progress import Progress

            with Progress("transcribe", meta.get("duration") or 0, "s of audio",
                          log=log) as progress:
                if settings.model_host:  # the same function, in the process that keeps it
                    from scribeflow.hosts.model_host import ModelHostClient

                    return ModelHostClient(settings.model_host).transcribe(
                        video.audio, meta["video_id"], options, progress.update)
                return run_whisper(video.audio, meta["video_id"], options, progress.update)
    previous = read_json(video.transcript) if video.transcript.exists() else {}
    if previous.get("cache_key") == key:
        transcript = Transcript.from_dict(previous)
        log.info("reused the transcript of %s (same audio, model and settings)", meta["video_id"])
        reused = True
    else:
        transcript = run()
        write_json_atomic(video.transcript, transcript.to_dict() | {"cache_key": key})
        write_text_atomic(video.srt, subtitles.to_srt(transcript.segments))
        write_text_atomic(video.vtt, subtitles.to_vtt(transcript.segments))
        write_text_atomic(video.txt, subtitles.to_text(transcript.segments))
        log.info("transcribed %.1f s of audio in %.2f s: real-time factor %.3f (%s on %s/%s)",
                 transcript.duration, transcript.processing_s, transcript.real_time_factor,
                 transcript.model, transcript.device, transcript.compute_type)
        reused = False
    if not transcript.segments:
        log.warning("no speech detected in %s: the transcript is empty", meta["video_id"])
    from scribeflow.speech.whisper import unreadable_speech

    problem = unreadable_speech(transcript)
    if problem:
        log.warning("%s", problem.message)
    return {"transcript": str(video.transcript), "language": transcript.language,
            "confidence": transcript.confidence,
            "degraded": [problem.message] if problem and problem.degrades else [],
            "speech_warnings": [problem.message] if problem and not problem.degrades else [],
            "segments": len(transcript.segments), "speech": bool(transcript.segments),
            "real_time_factor": round(transcript.real_time_factor, 4),
            "peak_memory_mb": peak_memory_mb(),
            "model": transcript.model, "device": transcript.device, "reused": reused,
            "backend": transcript.backend, "timestamps": transcript.timestamps}


def llm_cache(settings: PipelineSettings) -> Any:
    """The LLM cache of the data folder, local or on object storage."""
    from scribeflow.core.cache import LLMCache

    shared = None
    if settings.data_url:
        from scribeflow.core.objects import open_storage

        shared = open_storage(settings.data_url)
    return LLMCache(DataPaths(settings.data_dir).llm_cache, shared=shared)


def transcribe_options(settings: PipelineSettings) -> TranscribeOptions:
    """The whisper options of a run's settings."""
    from scribeflow.speech.whisper import TranscribeOptions

    return TranscribeOptions(
        model=settings.whisper_model, device=settings.whisper_device, language=settings.language,
        beam_size=settings.beam_size, batch_size=settings.whisper_batch_size,
        vad_filter=settings.vad_filter,
        batched=settings.whisper_batched,
        cpu_threads=settings.whisper_threads,
    )


def split(video_dir: str, settings: PipelineSettings) -> list[dict[str, Any]]:
    """Write ``chunks.json`` and return the groups of chunk indices the LLM task maps over."""
    video = VideoPaths(Path(video_dir))
    transcript = Transcript.from_dict(read_json(video.transcript))
    chunks = split_into_chunks(transcript.segments, settings.chunk_words)
    write_json_atomic(video.chunks, [c.to_dict() for c in chunks])
    groups = group_chunks(len(chunks), settings.max_llm_groups, settings.min_chunks_per_group)
    log.info("%d chunks of about %d words in %d group(s)", len(chunks), settings.chunk_words,
             len(groups))
    return [{"video_dir": video_dir, "group": g, "chunks": indices, "language": transcript.language,
             "label": group_label(indices, chunks)} for g, indices in enumerate(groups)]


def group_label(indices: list[int], chunks: list[Chunk]) -> str:
    """What a group holds, as the UI's grid labels its mapped task: ``chunks 0–7, 00:00–04:10``."""
    from scribeflow.core.links import clock

    if not indices:  # a video without speech still maps one (empty) group
        return "no chunks"
    first, last = chunks[indices[0]], chunks[indices[-1]]
    span = f"chunk {first.index}" if len(indices) == 1 else f"chunks {first.index}–{last.index}"
    return f"{span}, {clock(first.start)}–{clock(last.end)}"


def write_document_group(group: dict[str, Any], llm: LLMSettings,
                         settings: PipelineSettings) -> dict[str, Any]:
    """Run the LLM document stages over one group of chunks; write ``llm/group-NNN.json``.

    Answers are reused from the data folder's LLM cache when prompt, input and model match.
    """
    from scribeflow.writing.document import process_group

    video = VideoPaths(Path(group["video_dir"]))
    chunks = [Chunk.from_dict(c) for c in read_json(video.chunks)]
    selected = [chunks[i] for i in group["chunks"]]
    previous = {i: chunks[i - 1].text for i in group["chunks"] if i > 0}
    started = time.perf_counter()
    cache = llm_cache(settings)
    result = process_group(selected, previous, llm, group.get("language") or "auto",
                           prompts_dir=settings.prompts, cache=cache,
                           allow_degraded=settings.allow_degraded,
                           label=f"write_document group {group['group']}")
    elapsed = time.perf_counter() - started
    payload = result.to_dict() | {"group": group["group"], "seconds": round(elapsed, 3)}
    write_json_atomic(video.llm_group(group["group"]), payload)
    if result.llm_used:
        log.info("group %d: %d chunks, %d LLM requests (%d retries, %d answers reused) in %.2f s; "
                 "preamble filter removed %.2f%% of the text", group["group"], len(selected),
                 result.usage.requests, result.usage.retries, result.usage.cached, elapsed,
                 result.removed_pct)
    warnings = [w for c in result.chunks for w in c.warnings]
    return {"group": group["group"], "path": str(video.llm_group(group["group"])),
            "llm_used": result.llm_used, "requests": result.usage.requests,
            "reused": result.usage.cached, "seconds": round(elapsed, 3),
            "prompt_tokens": result.usage.prompt_tokens,
            "completion_tokens": result.usage.completion_tokens,
            "removed_pct": result.removed_pct, "warnings": warnings,
            "degraded": [d for c in result.chunks for d in c.degraded]}


def assemble(video_dir: str, groups: list[dict[str, Any]]) -> dict[str, Any]:
    """Reassemble the groups' chunk texts in order into ``document.md``."""
    from scribeflow.writing.document import assemble_document

    video = VideoPaths(Path(video_dir))
    chunks = [Chunk.from_dict(c) for c in read_json(video.chunks)]
    texts: dict[int, str] = {}
    removed_chars = answer_chars = 0
    for group in groups:
        for row in read_json(video.llm_group(group["group"]))["chunks"]:
            texts[row["index"]] = row["text"]
            removed_chars += row["removed_chars"]
            answer_chars += row.get("answer_chars", 0)
    missing = [c.index for c in chunks if c.index not in texts]
    if missing:
        raise RuntimeError(f"chunks {missing} have no LLM group output")
    meta = read_json(video.metadata)
    write_text_atomic(video.document, assemble_document(meta["title"], sorted(texts.items())))
    write_json_atomic(video.document_chunks, [
        {"index": c.index, "start": c.start, "end": c.end, "text": texts[c.index]} for c in chunks
    ])
    return {"document": str(video.document), "chunks": len(chunks),
            "llm_used": any(g["llm_used"] for g in groups),
            "llm_requests": sum(g["requests"] for g in groups),
            "llm_reused": sum(g.get("reused", 0) for g in groups),
            "document_stages_s": round(sum(g.get("seconds", 0.0) for g in groups), 3),
            "prompt_tokens": sum(g.get("prompt_tokens", 0) for g in groups),
            "completion_tokens": sum(g.get("completion_tokens", 0) for g in groups),
            # the share of the answers' characters the preamble filter removed: 0 to 100
            "removed_pct": round(100.0 * removed_chars / answer_chars, 2) if answer_chars else 0.0,
            "warnings": [w for g in groups for w in g["warnings"]],
            "degraded": [d for g in groups for d in g.get("degraded", [])]}


def chunk_id(video_id: str, chunk_index: int, unit_index: int) -> str:
    """Deterministic row id: the same video, chunk and unit always give the same id."""
    return hashlib.sha256(f"{video_id}\x1f{chunk_index}\x1f{unit_index}".encode()).hexdigest()[:32]


def content_hash(chunk: dict[str, Any], meta: dict[str, Any], language: str | None,
                 model: str) -> str:
    """What a chunk's rows are made from: its text, times and video fields, and the model.
    The same hash means the same rows, vectors included (units are cut by the model)."""
    from scribeflow.index.moments import VERSION

    fields = [model, chunk["text"], chunk["start"], chunk["end"], meta["title"],
              meta.get("channel"), meta.get("upload_date"), language, meta["webpage_url"],
              f"moments-{VERSION}"]
    return hashlib.sha256(json.dumps(fields).encode()).hexdigest()[:32]


def _video_inputs(video_dir: str) -> tuple[VideoPaths, dict, list[dict], str | None]:
    video = VideoPaths(Path(video_dir))
    language = read_json(video.transcript).get("language") if video.transcript.exists() else None
    return video, read_json(video.metadata), read_json(video.document_chunks), language


def _spoken_words(video: VideoPaths) -> list[tuple[float, str]]:
    """(start, word) of every word the transcript holds; a segment without word timestamps
    gives each of its words the segment's start."""
    if not video.transcript.exists():
        return []
    words = []
    for segment in read_json(video.transcript).get("segments", []):
        if segment.get("words"):
            words.extend((w["start"], w["word"]) for w in segment["words"])
        else:
            words.extend((segment["start"], w) for w in segment.get("text", "").split())
    return words


def embed_video(video_dir: str, settings: PipelineSettings, keep: Collection[int] = ()
                ) -> tuple[str, list[ChunkRow]]:
    """The video's rows: each chunk's final text embedded in units that fit the model, but
    for the chunks in ``keep`` (whose stored rows are current).

    Reads only files in the video's folder, so it also rebuilds a lost store (``reindex``).
    """
    from scribeflow.core.links import deep_link
    from scribeflow.index.embedding import model_label

    video, meta, chunks, language = _video_inputs(video_dir)
    label = model_label(settings.embed_model)
    chunks = [c for c in chunks if c["index"] not in keep]
    if not chunks:
        return meta["video_id"], []
    spoken = _spoken_words(video)
    started = time.perf_counter()
    texts = [c["text"] for c in chunks]
    if settings.model_host:  # split and embedded where the model stays loaded
        from scribeflow.hosts.model_host import ModelHostClient

        embedded = ModelHostClient(settings.model_host).embed(settings.embed_model, texts,
                                                              settings.embed_batch_size)
    else:
        from scribeflow.index.embedding import embed_chunks, load_embedder

        embedded = embed_chunks(load_embedder(settings.embed_model), texts,
                                settings.embed_batch_size)
    units = [(chunk, u, unit) for chunk, pieces in zip(chunks, embedded, strict=True)
             for u, unit in enumerate(pieces)]
    during = {c["index"]: _spoken_in(spoken, c) for c in chunks}  # once a chunk, not a unit
    unit_moments = [moments.make(unit.text, during[chunk["index"]], chunk["start"],
                                 unit.windows) for chunk, _, unit in units]
    log.info("embedded %d units of %s (%d moments) with %s in %.2f s%s", len(units),
             meta["video_id"], sum(len(m) for m in unit_moments), label,
             time.perf_counter() - started, " (model host)" if settings.model_host else "")
    hashes = {c["index"]: content_hash(c, meta, language, label) for c in chunks}
    return meta["video_id"], [
        ChunkRow(
            id=chunk_id(meta["video_id"], chunk["index"], u), video_id=meta["video_id"],
            chunk_index=chunk["index"], unit_index=u, start=chunk["start"], end=chunk["end"],
            text=unit.text, title=meta["title"], channel=meta.get("channel"),
            upload_date=meta.get("upload_date"), language=language,
            url=deep_link(meta["webpage_url"], chunk["start"]), model=label, vector=unit.vector,
            content_hash=hashes[chunk["index"]], moments=found,
        )
        for (chunk, u, unit), found in zip(units, unit_moments, strict=True)
    ]


def _spoken_in(spoken: list[tuple[float, str]], chunk: dict) -> list[tuple[float, str]]:
    """The words spoken during ``chunk`` (a second of slack at each end)."""
    return [w for w in spoken if chunk["start"] - 1.0 <= w[0] <= chunk["end"] + 1.0]


def embed_and_upsert(video_dir: str, settings: PipelineSettings, dsn: str | None = None
                     ) -> dict[str, Any]:
    """Bring the video's rows in the store up to date: chunks whose stored rows carry their
    content hash keep them; the others are embedded, and the video's rows replaced as a
    whole. With nothing changed, no model is loaded and nothing is written."""
    from scribeflow.index.embedding import model_label
    from scribeflow.index.store import open_store
    from scribeflow.pipeline.reuse import rows_digest

    video, meta, chunks, language = _video_inputs(video_dir)
    label = model_label(settings.embed_model)
    wanted = {c["index"]: content_hash(c, meta, language, label) for c in chunks}
    store = open_store(settings, dsn)
    stored_rows = store.video_rows(meta["video_id"])
    stored: dict[int, set[str | None]] = {}
    for row in stored_rows:
        stored.setdefault(row.chunk_index, set()).add(row.content_hash)
    current = {i for i, h in wanted.items() if stored.get(i) == {h}}
    result = {"store": store.name, "embed_model": label}
    if current == set(wanted) == set(stored):
        log.info("%s store: the %d rows of %s are current (%d chunks unchanged): nothing "
                 "embedded or written", store.name, len(stored_rows), meta["video_id"],
                 len(current))
        return result | {"rows": len(stored_rows), "replaced": 0, "embedded": 0,
                         "total_rows": store.count(), "rows_digest": rows_digest(stored_rows)}
    kept = [r for r in store.video_rows(meta["video_id"], vectors=True)
            if r.chunk_index in current] if current else []
    video_id, rows = embed_video(video_dir, settings, keep=current)
    rows = sorted(kept + rows, key=lambda r: (r.chunk_index, r.unit_index))
    upserted = store.upsert_video(video_id, rows)
    log.info("%s store: %d rows for %s (was %d; %d chunks embedded, %d unchanged), %d in all",
             store.name, upserted.after, video_id, upserted.before, len(wanted) - len(current),
             len(current), upserted.total)
    return result | {"rows": upserted.after, "replaced": upserted.before,
                     "embedded": len(rows) - len(kept), "total_rows": upserted.total,
                     "rows_digest": rows_digest(rows)}


def reindex(settings: PipelineSettings, dsn: str | None = None, batch_rows: int = 20_000,
            report: Any = None) -> dict[str, Any]:
    """Rebuild the store from every processed video on disk, in bulk writes of about
    ``batch_rows`` rows. ``report(video_id, rows, replaced)`` is called per video."""
    from scribeflow.index.store import open_store

    store = open_store(settings, dsn)
    if settings.data_url:
        return _reindex_from_objects(settings, store, batch_rows, report)
    folders = sorted(p for p in (settings.data_dir / "videos").glob("*")
                     if (p / "document_chunks.json").exists())
    pending: dict[str, list[ChunkRow]] = {}
    total = 0
    with store.bulk_session():  # pgvector builds its indexes once, at the end
        for folder in folders:
            video_id, rows = embed_video(str(folder), settings)
            pending[video_id] = rows
            if sum(len(r) for r in pending.values()) >= batch_rows:
                total = _flush(store, pending, report)
        if pending:
            total = _flush(store, pending, report)
    return {"videos": len(folders), "total_rows": total, "store": store.name}


def _flush(store: Any, pending: dict[str, list[ChunkRow]], report: Any) -> int:
    """Write ``pending`` in one bulk upsert, empty it; the store's row count after."""
    total = 0
    for result in store.upsert_videos(pending):
        total = result.total
        if report is not None:
            report(result.video_id, result.after, result.before)
    pending.clear()
    return total


def _reindex_from_objects(settings: PipelineSettings, store: Any, batch_rows: int,
                          report: Any) -> dict[str, Any]:
    """:func:`reindex` from the bucket alone: each video's small files are checked out to a
    scratch folder, embedded and dropped; its media never leaves the bucket."""
    import shutil
    import tempfile

    from scribeflow.core.objects import checkout, open_storage

    storage = open_storage(settings.data_url)
    storage.check()
    names = storage.folders("videos")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="reindex-", dir=settings.data_dir))
    pending: dict[str, list[ChunkRow]] = {}
    total = videos = 0
    try:
        with store.bulk_session():
            for name in names:
                folder = scratch / name
                if "document_chunks.json" not in checkout(storage, f"videos/{name}", folder):
                    continue
                video_id, rows = embed_video(str(folder), settings)
                shutil.rmtree(folder)
                pending[video_id] = rows
                videos += 1
                if sum(len(r) for r in pending.values()) >= batch_rows:
                    total = _flush(store, pending, report)
            if pending:
                total = _flush(store, pending, report)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return {"videos": videos, "total_rows": total, "store": store.name}


def _usage(outcome: Any) -> dict[str, int]:
    return {"requests": outcome.requests, "reused": outcome.reused, "seconds": outcome.seconds,
            "prompt_tokens": outcome.prompt_tokens, "completion_tokens": outcome.completion_tokens}


def _study_inputs(video_dir: str) -> tuple[VideoPaths, dict, list[dict]]:
    video = VideoPaths(Path(video_dir))
    return video, read_json(video.metadata), read_json(video.document_chunks)


def write_chapters(video_dir: str, llm: LLMSettings, settings: PipelineSettings
                   ) -> dict[str, Any]:
    """``chapters.json``, ``chapters.txt`` (``00:00 Title`` lines) and chapter headings in
    ``document.md``. Chapters are proposed over groups of the raw transcript chunks, whose
    sentences the model quotes back. Without an LLM or speech there are none, and it says so."""
    from scribeflow.core.links import clock
    from scribeflow.writing.chapters import with_chapter_headings, youtube_list
    from scribeflow.writing.study import build_chapters

    video, meta, chunks = _study_inputs(video_dir)
    if not llm.configured or not chunks:
        why = "no LLM configured" if not llm.configured else "no speech"
        log.info("chapters skipped: %s", why)
        write_json_atomic(video.chapters, {"chapters": [], "skipped": why})
        return {"chapters": 0, "requests": 0, "reused": 0, "dropped": []}
    segments = Transcript.from_dict(read_json(video.transcript)).segments
    raw = read_json(video.chunks)  # the transcript's own words: their sentences match back best
    groups = []
    for start in range(0, len(raw), settings.chapter_chunks):
        part = raw[start:start + settings.chapter_chunks]
        groups.append((" ".join(c["text"] for c in part), part[0]["start"], part[-1]["end"]))
    outcome = build_chapters(groups, segments, llm, llm_cache(settings),
                             prompts_dir=settings.prompts)
    chapters = outcome.value
    write_json_atomic(video.chapters, {"chapters": [c.to_dict() | {"clock": clock(c.start)}
                                                    for c in chapters],
                                       "dropped": outcome.dropped})
    write_text_atomic(video.chapters_txt, youtube_list(chapters))
    write_text_atomic(video.document, with_chapter_headings(meta["title"], chunks, chapters))
    for reason in outcome.dropped:
        log.warning("chapters: %s", reason)
    log.info("%d chapters (%d LLM requests, %d answers reused)", len(chapters), outcome.requests,
             outcome.reused)
    return {"chapters": len(chapters), "dropped": outcome.dropped} | _usage(outcome)


def write_quiz(video_dir: str, llm: LLMSettings, settings: PipelineSettings) -> dict[str, Any]:
    """``quiz.json``, ``quiz.md`` (no answers) and the answer key, when the run asks for a
    quiz. One LLM call per question; unreadable questions are dropped with their reason."""
    from scribeflow.writing.quiz import answer_key_markdown, student_markdown
    from scribeflow.writing.study import build_quiz

    video, meta, chunks = _study_inputs(video_dir)
    if not settings.quiz:
        return {"quiz": "off", "questions": 0, "requests": 0, "reused": 0, "dropped": []}
    if not llm.configured:
        log.warning("quiz skipped: no LLM configured")
        return {"quiz": "no LLM", "questions": 0, "requests": 0, "reused": 0, "dropped": []}
    outcome = build_quiz(chunks, settings.quiz_per_chunk, llm, seed=meta["video_id"],
                         cache=llm_cache(settings), prompts_dir=settings.prompts)
    questions = outcome.value
    write_json_atomic(video.quiz, {"title": meta["title"], "video_id": meta["video_id"],
                                   "questions": [q.to_dict() for q in questions],
                                   "dropped": outcome.dropped})
    write_text_atomic(video.quiz_md, student_markdown(meta["title"], questions))
    write_text_atomic(video.quiz_key, answer_key_markdown(meta["title"], questions))
    for reason in outcome.dropped:
        log.warning("quiz: dropped %s", reason)
    log.info("quiz: %d questions, %d attempts dropped (%d LLM requests, %d answers reused)",
             len(questions), len(outcome.dropped), outcome.requests, outcome.reused)
    return {"quiz": "on", "questions": len(questions), "dropped": outcome.dropped} | _usage(outcome)


def score_quality(video_dir: str, llm: LLMSettings, settings: PipelineSettings
                  ) -> dict[str, Any]:
    """``quality.json``: the LLM's 0-100 rating of the document's start against the raw
    transcript's start, or why there is none."""
    from scribeflow.writing.study import score_quality as rate

    video, _, chunks = _study_inputs(video_dir)
    transcript = Transcript.from_dict(read_json(video.transcript)).text
    if not llm.configured or not chunks:
        why = "no LLM configured" if not llm.configured else "no speech"
        write_json_atomic(video.quality, {"score": None, "why": why})
        return {"quality": None, "requests": 0, "reused": 0, "dropped": []}
    document = "\n\n".join(c["text"] for c in chunks)
    outcome = rate(transcript, document, llm, llm_cache(settings),
                   n_chars=settings.quality_chars, prompts_dir=settings.prompts)
    write_json_atomic(video.quality, {"score": outcome.value, "chars": settings.quality_chars,
                                      "dropped": outcome.dropped})
    log.info("quality score: %s", outcome.value)
    return {"quality": outcome.value, "dropped": outcome.dropped} | _usage(outcome)


def render_outputs(video_dir: str, settings: PipelineSettings, llm: LLMSettings,
                   record: dict[str, Any]) -> dict[str, Any]:
    """``document.html``/``.pdf``, ``quiz.html``/``.pdf`` when there is a quiz, and
    ``metadata.json`` with what it takes to rebuild the stores from files alone."""
    from scribeflow.writing import render
    from scribeflow.writing.prompts import load_prompt
    from scribeflow.writing.quiz import QuizQuestion

    video, meta, _ = _study_inputs(video_dir)
    quality = read_json(video.quality).get("score") if video.quality.exists() else None
    chapters = read_json(video.chapters).get("chapters", []) if video.chapters.exists() else []
    page = render.document_page(meta["title"], video.document.read_text(encoding="utf-8"),
                                quality, chapters)
    rendered = _page_and_pdf(page, video.document_html, video.document_pdf)
    outputs = {"document_html": str(video.document_html), "document_pdf": str(video.document_pdf)}
    if settings.quiz and video.quiz.exists():
        questions = [QuizQuestion.from_dict(q) for q in read_json(video.quiz)["questions"]]
        rendered += _page_and_pdf(render.quiz_page(meta["title"], questions, quality),
                                  video.quiz_html, video.quiz_pdf,
                                  render.quiz_print_page(meta["title"], questions))
        outputs |= {"quiz_html": str(video.quiz_html), "quiz_pdf": str(video.quiz_pdf)}
    log.info("rendered %d PDF(s); %d unchanged", rendered,
             1 + bool(settings.quiz and video.quiz.exists()) - rendered)
    transcript = read_json(video.transcript)
    source = {k: meta[k] for k in ("video_id", "title", "channel", "upload_date", "duration",
                                   "webpage_url", "source_url", "extractor") if k in meta}
    prompts = ("polish_sentences", "format_markdown", "cleanup_markdown", "chapters",
               "quiz_question", "quality_score")
    tokens = record.get("tokens", {})
    write_json_atomic(video.metadata, source | {
        "processing": {
            "whisper_model": transcript.get("model"), "device": transcript.get("device"),
            "compute_type": transcript.get("compute_type"),
            "transcribe_s": transcript.get("processing_s"),
            "real_time_factor": transcript.get("real_time_factor"),
            "llm_model": llm.model, "llm_fallback_model": llm.fallback_model,
            "prompt_versions": {p: load_prompt(p, settings.prompts).version for p in prompts},
            "embed_model": settings.embed_model, "settings": settings.as_dict(),
            "quality": quality, "llm_requests": record.get("llm_requests"),
            "degraded": record.get("degraded", []),
            "timings_s": {"transcribe": transcript.get("processing_s")} | record.get("timings", {}),
            "tokens": tokens, "estimated_cost_usd": estimated_cost(tokens),
        },
    })
    return {"quality": quality, "outputs": outputs}


def _page_and_pdf(page: str, html: Path, pdf: Path, printed: str | None = None) -> int:
    """Write ``page`` and its PDF (from ``printed``, a print layout of it, when given); 0 when
    both are there already and the page is unchanged: WeasyPrint, the slow part, is not run.
    The PDF is written first, so a crash between the two leaves a page that differs and the
    next run makes both again."""
    from scribeflow.writing import render

    if html.exists() and pdf.exists() and html.read_text(encoding="utf-8") == page:
        return 0
    render.write_pdf(printed or page, pdf)
    write_text_atomic(html, page)
    return 1


def estimated_cost(tokens: dict[str, int]) -> float | None:
    """USD from ``SCRIBEFLOW_PRICE_PROMPT_PER_MTOK`` / ``..._COMPLETION_PER_MTOK`` (prices
    per million tokens of the configured model); None when no price is configured."""
    from scribeflow.core.config import DeploymentSettings

    deployment = DeploymentSettings.from_env()
    prompt_price = deployment.price_prompt_per_mtok
    completion_price = deployment.price_completion_per_mtok
    if prompt_price is None or completion_price is None or not tokens:
        return None
    return round((tokens.get("prompt", 0) * prompt_price
                  + tokens.get("completion", 0) * completion_price) / 1e6, 6)
