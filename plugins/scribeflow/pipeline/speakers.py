"""The ``find_speakers`` stage: who spoke when (``speakers.json``), and the transcript's
subtitles and text with the speakers in them; and :func:`read_transcript`, the one reader of
the transcript every later stage sees (with its speakers)."""

from __future__ import annotations

import logging
from pathlib import Path

from scribeflow.core.config import PipelineSettings
from scribeflow.core.files import VideoPaths, read_json, write_json_atomic, write_text_atomic
from scribeflow.core.records import Diarization, Transcript
from scribeflow.pipeline.results import SpeakersFound
from scribeflow.pipeline.transcription import subtitle_style
from scribeflow.speech import speaker_model, speakers, subtitles

log = logging.getLogger(__name__)


def speaker_options(settings: PipelineSettings) -> speakers.SpeakerOptions:
    return speakers.SpeakerOptions(num_speakers=settings.num_speakers or None,
                                   min_speakers=settings.min_speakers,
                                   max_speakers=settings.max_speakers)


def find_speakers(video_dir: str, settings: PipelineSettings) -> SpeakersFound:
    """Find who spoke when in the video (unless the run turned it off), or reuse what was
    found for the same transcript and counts; then write the subtitles and the text."""
    from scribeflow.core.cache import digest

    video = VideoPaths(Path(video_dir))
    raw = read_json(video.transcript)
    transcript = Transcript.from_dict(raw)
    found: Diarization | None = None
    reused = False
    # an endpoint that gave no times inside its pieces cannot say who spoke when
    unplaced = settings.diarize and transcript.timestamps == "piece" and transcript.segments
    if settings.diarize and transcript.segments and not unplaced:
        options = speaker_options(settings)
        key = digest(raw.get("cache_key") or "", speaker_model.MODEL, repr(options), repr(
            (speakers.SAME_SPEAKER, speakers.WINDOW_S, speakers.HOP_S, speakers.MIN_SPEAKER_S)))
        previous = read_json(video.speakers) if video.speakers.exists() else {}
        reused = previous.get("cache_key") == key
        if reused:
            found = Diarization.from_dict(previous)
        else:
            found = _diarize(video, transcript, options, settings)
            write_json_atomic(video.speakers, found.to_dict() | {
                "cache_key": key, "transcript_key": raw.get("cache_key")})
            log.info("found %d speaker(s) in %d turn(s) over %d windows of speech in %.2f s",
                     len(found.speakers), len(found.turns), found.windows, found.processing_s)
    elif video.speakers.exists():  # none found this time: no output may show old ones
        video.speakers.unlink()
    heard = speakers.labelled(transcript, found) if found else transcript
    style = subtitle_style(settings, heard.language)
    cues = subtitles.cues(heard.segments, style)
    write_text_atomic(video.srt, subtitles.to_srt(cues))
    write_text_atomic(video.vtt, subtitles.to_vtt(cues))
    write_text_atomic(video.txt, subtitles.to_text(heard.segments))
    return SpeakersFound(
        video_dir=video_dir, speakers=str(video.speakers) if found else None,
        count=len(found.speakers) if found else None,
        turns=len(found.turns) if found else 0,
        processing_s=found.processing_s if found else 0.0, reused=reused,
        skipped=("speakers not looked for: the transcription endpoint gave no times within "
                 "its pieces" if unplaced else None))


def _diarize(video: VideoPaths, transcript: Transcript, options: speakers.SpeakerOptions,
             settings: PipelineSettings) -> Diarization:
    if settings.model_host:  # the same function, in the process that keeps the model
        from scribeflow.hosts.model_client import ModelHostClient

        return ModelHostClient(settings.model_host).find_speakers(video.audio, video.transcript,
                                                                  options)
    return speakers.diarize(video.audio, transcript.segments, options)


def read_transcript(video: VideoPaths) -> Transcript:
    """The video's transcript, each word and segment with its speaker when speakers were
    found for this very transcript (``speakers.json`` names its cache key)."""
    raw = read_json(video.transcript)
    transcript = Transcript.from_dict(raw)
    if not video.speakers.exists():
        return transcript
    found = read_json(video.speakers)
    if found.get("transcript_key") != raw.get("cache_key"):
        return transcript
    return speakers.labelled(transcript, Diarization.from_dict(found))
