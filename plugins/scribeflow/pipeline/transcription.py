"""The ``transcribe`` stage: the video's transcript, made or reused (its subtitles and text
are written with the speakers, by ``find_speakers``), and whisper's English translation."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from scribeflow.core.cache import llm_cache
from scribeflow.core.config import PipelineSettings
from scribeflow.core.endpoints import TranscriptionSettings
from scribeflow.core.errors import BadInputError
from scribeflow.core.files import (
    VideoPaths,
    read_json,
    write_json_atomic,
    write_text_atomic,
)
from scribeflow.core.records import Segment, Transcript
from scribeflow.core.timings import peak_memory_mb
from scribeflow.speech import subtitles
from scribeflow.speech.confidence import language_warnings, unreadable_speech

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
    options = None
    if settings.transcriber == "endpoint":
        from scribeflow.speech.endpoint import transcribe_endpoint

        endpoint = endpoint or TranscriptionSettings.from_env()
        key = digest(file_digest(video.audio), "endpoint", endpoint.endpoint, endpoint.model,
                     settings.language)

        def run() -> Transcript:
            return transcribe_endpoint(video.audio, meta["video_id"], endpoint, settings.language,
                                       llm_cache(settings))
    else:
        from scribeflow.speech.models import resolve_whisper_model
        from scribeflow.speech.whisper import resolve_device

        options = transcribe_options(settings)
        device = resolve_device(options.device)
        key = digest(file_digest(video.audio),
                     resolve_whisper_model(options.model, device, options.language), device,
                     repr(sorted(vars(options).items())))

        def run() -> Transcript:
            return _whisper(video, meta, settings, options)
    previous = read_json(video.transcript) if video.transcript.exists() else {}
    reused = previous.get("cache_key") == key
    transcript = Transcript.from_dict(previous) if reused else run()
    problem = unreadable_speech(transcript)
    if problem and problem.degrades:  # stored nothing: a transcript made before stays
        raise BadInputError(problem.message)
    if reused:
        log.info("reused the transcript of %s (same audio, model and settings)", meta["video_id"])
    else:
        write_json_atomic(video.transcript, transcript.to_dict() | {"cache_key": key})
        log.info("transcribed %.1f s of audio in %.2f s: real-time factor %.3f (%s on %s/%s)",
                 transcript.duration, transcript.processing_s, transcript.real_time_factor,
                 transcript.model, transcript.device, transcript.compute_type)
    if options is not None and _whisper_translates(settings, transcript):
        _translate_speech(video, meta, settings, options, transcript, digest(key, "translate"))
    if not transcript.segments:
        log.warning("no speech detected in %s: the transcript is empty", meta["video_id"])
    warnings = ([problem.message] if problem else []) + language_warnings(transcript)
    for warning in warnings:
        log.warning("%s", warning)
    return Transcribed(
        video_dir=video_dir, transcript=str(video.transcript), language=transcript.language,
        language_probability=(transcript.language_probability  # detected, not named
                              if settings.language == "auto" else None),
        confidence=transcript.confidence, segments=len(transcript.segments),
        real_time_factor=round(transcript.real_time_factor, 4), peak_memory_mb=peak_memory_mb(),
        model=transcript.model, device=transcript.device, backend=transcript.backend,
        timestamps=transcript.timestamps, reused=reused, speech_warnings=tuple(warnings))


def _whisper(video: VideoPaths, meta: dict, settings: PipelineSettings,
             options: TranscribeOptions) -> Transcript:
    """faster-whisper's transcript (or translation) of the video, here or on the model host."""
    from scribeflow.core.progress import Progress
    from scribeflow.speech.whisper import transcribe as run_whisper

    with Progress("translate" if options.task == "translate" else "transcribe",
                  meta.get("duration") or 0, "s of audio", log=log) as progress:
        if settings.model_host:  # the same function, in the process that keeps it
            from scribeflow.hosts.model_client import ModelHostClient

            return ModelHostClient(settings.model_host).transcribe(
                video.audio, meta["video_id"], options, progress.update)
        return run_whisper(video.audio, meta["video_id"], options, progress.update)


def _whisper_translates(settings: PipelineSettings, transcript: Transcript) -> bool:
    """Whether whisper itself translates the speech into English for this run: asked for,
    not English already, and a multilingual model (the LLM translates everything else)."""
    from scribeflow.speech.models import english_only

    return ("en" in settings.translate_to and transcript.language != "en"
            and not english_only(transcript.model))


def _translate_speech(video: VideoPaths, meta: dict, settings: PipelineSettings,
                      options: TranscribeOptions, transcript: Transcript, key: str) -> None:
    """``transcript.en.json`` and its subtitles: whisper's English translation of the speech
    in the language it was heard in, made once for the same audio, model and settings."""
    import dataclasses

    path = video.transcript_in("en")
    if path.exists() and read_json(path).get("cache_key") == key:
        english = Transcript.from_dict(read_json(path))
    else:
        english = _whisper(video, meta, settings, dataclasses.replace(
            options, task="translate", language=transcript.language))
        write_json_atomic(path, english.to_dict() | {"cache_key": key})
        log.info("translated %.1f s of %s speech into English with whisper in %.2f s",
                 english.duration, transcript.language, english.processing_s)
    write_subtitles(video.srt_in("en"), video.vtt_in("en"), english.segments,
                    subtitle_style(settings, "en"))


def subtitle_style(settings: PipelineSettings, language: str) -> subtitles.SubtitleStyle:
    """The run's subtitle limits in ``language``."""
    return subtitles.SubtitleStyle.for_language(language, settings.subtitle_chars,
                                                settings.subtitle_lines)


def write_subtitles(srt: Path, vtt: Path, segments: Sequence[Segment],
                    style: subtitles.SubtitleStyle) -> int:
    """``srt`` and ``vtt`` of ``segments`` in ``style``; the number of cues."""
    cues = subtitles.cues(segments, style)
    write_text_atomic(srt, subtitles.to_srt(cues))
    write_text_atomic(vtt, subtitles.to_vtt(cues))
    return len(cues)


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


