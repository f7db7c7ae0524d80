"""The ``transcribe`` stage: the video's transcript and subtitles, made or reused."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from scribeflow.core.cache import llm_cache
from scribeflow.core.config import PipelineSettings, TranscriptionSettings
from scribeflow.core.files import (
    VideoPaths,
    read_json,
    write_json_atomic,
    write_text_atomic,
)
from scribeflow.core.records import Transcript
from scribeflow.core.timings import peak_memory_mb
from scribeflow.speech import subtitles

if TYPE_CHECKING:
    from scribeflow.speech.whisper import TranscribeOptions


from scribeflow.pipeline.results import Transcribed

log = logging.getLogger(__name__)


def transcribe_video(video_dir: str, settings: PipelineSettings,
                     endpoint: TranscriptionSettings | None = None) -> Transcribed:
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
        from scribeflow.speech.whisper import resolve_device, resolve_whisper_model
        from scribeflow.speech.whisper import transcribe as run_whisper

        options = transcribe_options(settings)
        device = resolve_device(options.device)
        key = digest(file_digest(video.audio), resolve_whisper_model(options.model, device), device,
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
    return Transcribed(
        video_dir=video_dir, transcript=str(video.transcript), language=transcript.language,
        confidence=transcript.confidence, segments=len(transcript.segments),
        real_time_factor=round(transcript.real_time_factor, 4), peak_memory_mb=peak_memory_mb(),
        model=transcript.model, device=transcript.device, backend=transcript.backend,
        timestamps=transcript.timestamps, reused=reused,
        degraded=(problem.message,) if problem and problem.degrades else (),
        speech_warnings=(problem.message,) if problem and not problem.degrades else ())


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


