"""Speech to text with faster-whisper.

The model is loaded once per worker process and reused by every task that process runs.
It runs through ``BatchedInferencePipeline`` (batch 16), in float16 on CUDA and int8 on CPU
with one thread per core this process may use; its 30 s segments are split into sentences by
their word timestamps. On CPU that is 1.4-2x faster than sequential decoding with a lower WER on
English (``bench/transcribe_sweep.py``, P10). Batched decoding has no temperature fallback:
speech an English-only model cannot read comes out as confident repetitions, which would
hide the problem. So a chunk whose text is repetitive (compression ratio over 2.4) or a
guess (average log-probability under -1) is decoded again sequentially, with faster-whisper's
fallback, as it would have been without batching. VAD is on and word timestamps are kept.

That fallback samples at temperatures above 0, from CTranslate2's random generators, which
are seeded from ``std::random_device`` unless a seed is set before the model's threads first
sample (one generator per thread, seeded once: ``ctranslate2/random.cc``). Unseeded, three
runs of the same Spanish clip through ``tiny.en`` gave three different transcripts, and an
evaluation's figures moved with them. So every model is loaded after
``ctranslate2.set_random_seed(SAMPLING_SEED)``: a process that transcribes the same inputs in
the same order gets the same text (a long-lived model host's generators move on between
requests).

Memory does not grow with the input's length: the pipeline's 16 kHz mono WAV is read and
transcribed in windows of at most ``window_s`` seconds, each cut in the longest pause of its
last 30 s (between sentences, not inside a word), with the timestamps shifted back into
place. Three hours of audio handed to faster-whisper whole would be decoded into 0.7 GB of
float32 first.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import threading
import time
import wave
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scribeflow.core.errors import ConfigError
from scribeflow.core.records import HeardLanguage, Segment, Transcript, Word
from scribeflow.core.timings import phase
from scribeflow.speech.confidence import MAX_COMPRESSION_RATIO, MIN_AVG_LOGPROB
from scribeflow.speech.listening import Listening
from scribeflow.speech.models import resolve_whisper_model, whisper_model_label

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
    #: ``BatchedInferencePipeline`` (True) or sequential decoding (False).
    batched: bool = True
    #: CPU threads (0: one per core this process may use).
    cpu_threads: int = 0
    #: The longest stretch of audio held in memory at once (seconds).
    window_s: float = 300.0
    #: ``transcribe``, or ``translate`` (whisper's own translation into English).
    task: str = "transcribe"


SAMPLE_RATE = 16_000
#: A window ends in the longest pause of its last ``CUT_SEARCH_S`` seconds.
CUT_SEARCH_S = 30.0
_FRAME = SAMPLE_RATE // 10
#: The seed of CTranslate2's sampling (the temperature fallback), set before a model loads.
SAMPLING_SEED = 0


def resolve_device(requested: str) -> str:
    if requested != "auto":
        return requested
    with phase("imports"):
        import ctranslate2

    return "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"


def compute_type_for(device: str) -> str:
    return "float16" if device == "cuda" else "int8"


def cpu_threads_for(requested: int) -> int:
    """``requested``, or with 0 the cores this process may run on (CTranslate2's own default
    of 4 threads oversubscribes a 2-core machine: 5.19 s against 4.75 s in P10)."""
    if requested > 0:
        return requested
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def load_model(model: str, device: str, compute_type: str, cpu_threads: int = 0) -> Any:
    """The process-wide ``WhisperModel`` for these settings, loaded on first use."""
    threads = cpu_threads_for(cpu_threads) if device == "cpu" else 0
    key = (model, device, compute_type, threads)
    with _LOCK:
        if key not in _MODELS:
            with phase("imports"):
                import ctranslate2
                from faster_whisper import WhisperModel

            ctranslate2.set_random_seed(SAMPLING_SEED)
            started = time.perf_counter()
            try:
                with phase("model_load"):
                    _MODELS[key] = WhisperModel(model, device=device, compute_type=compute_type,
                                                cpu_threads=threads)
            except (ValueError, RuntimeError, OSError) as exc:
                raise ConfigError(f"cannot load whisper model {model!r} on {device}: {exc}") from exc
            log.info("loaded whisper model %s on %s/%s in %.2fs", model, device, compute_type,
                     time.perf_counter() - started)
        return _MODELS[key]


def unload_model(model: str, device: str, compute_type: str, cpu_threads: int = 0) -> None:
    """Drop the process's ``WhisperModel`` for these settings (the model host's bound)."""
    threads = cpu_threads_for(cpu_threads) if device == "cpu" else 0
    with _LOCK:
        _MODELS.pop((model, device, compute_type, threads), None)


def transcribe(audio: Path, video_id: str, options: TranscribeOptions,
               progress: Callable[[float, float], None] | None = None) -> Transcript:
    """Transcribe ``audio`` (any format ffmpeg reads; 16 kHz mono WAV is fastest).
    ``progress(done_s, total_s)`` hears how much of the audio is done, as it goes."""
    device = resolve_device(options.device)
    model_name = resolve_whisper_model(options.model, device, options.language)
    compute_type = compute_type_for(device)
    model = load_model(model_name, device, compute_type, options.cpu_threads)
    language = None if options.language in ("", "auto") else options.language
    detect = language is None and model.model.is_multilingual
    kwargs: dict[str, Any] = {
        "beam_size": options.beam_size,
        "vad_filter": options.vad_filter,
        "word_timestamps": True,
        "task": options.task,
    }
    heard_languages: list[HeardLanguage] = []
    started = time.perf_counter()
    batched = options.batched
    decode = model.transcribe
    listener = Listening(model, detect)
    if batched:
        from faster_whisper import BatchedInferencePipeline

        # one segment per 30 s batch, split into sentences below (decoding with segment
        # timestamps instead raised the WER from 0.106 to 0.149 in P10)
        decode = functools.partial(BatchedInferencePipeline(model=listener).transcribe,
                                   batch_size=options.batch_size)

    segments: list[Segment] = []
    info = None
    duration = 0.0
    redecoded = 0
    windows = pcm_windows(audio, options.window_s)
    total_s = wav_seconds(audio)
    if windows is None:  # not the pipeline's WAV: decoded whole, as faster-whisper would
        from faster_whisper import decode_audio

        whole = decode_audio(str(audio), sampling_rate=SAMPLE_RATE)
        total_s = len(whole) / SAMPLE_RATE
        windows = iter([(0.0, whole)])
    heard = progress or (lambda done, total: None)
    heard(0.0, total_s)
    for offset, samples in windows:
        listener.begin()
        segments_iter, window_info = decode(samples, language=language, **kwargs)
        found: list[Segment] = []
        starts: list[float] = []  # of each batch's segment, as the listener heard them
        for seg in segments_iter:
            starts.append(round(float(offset + seg.start), 3))
            if batched and _failed(seg):
                # batched decoding has no temperature fallback: this chunk again, sequentially
                redecoded += 1
                piece = samples[int(seg.start * SAMPLE_RATE):int(seg.end * SAMPLE_RATE)]
                again, _ = model.transcribe(piece, language=language or window_info.language,
                                            **kwargs)
                found += [s for sub in again
                          for s in _sentences(sub, offset + seg.start, fallback=True)]
            else:
                found += _sentences(seg, offset)
            heard(min(offset + seg.end, total_s), total_s)
        found = _numbered(found, first=len(segments))
        if info is None or (found and not segments):
            info = window_info  # the language as heard in the first window with speech
        if found and language is None:
            language = window_info.language  # one language for the whole input
        if detect and batched and len(listener.heard) == len(starts):
            heard_languages += [HeardLanguage(start=at, language=code, probability=p)
                                for at, (code, p) in zip(starts, listener.heard, strict=True)]
        elif detect:  # sequential decoding: pieces of the window checked apart
            heard_languages += _languages_heard(model, samples, offset, found)
        segments += found
        duration = offset + len(samples) / SAMPLE_RATE
        heard(duration, total_s)
    processing_s = time.perf_counter() - started
    return Transcript(
        video_id=video_id,
        language=info.language,
        language_probability=round(float(info.language_probability), 4),
        duration=round(float(duration), 3),
        model=whisper_model_label(model_name),
        device=device,
        compute_type=compute_type,
        settings={"beam_size": options.beam_size, "vad_filter": options.vad_filter,
                  "language": options.language, "batched": batched,
                  "batch_size": options.batch_size if batched else None,
                  "cpu_threads": cpu_threads_for(options.cpu_threads) if device == "cpu" else None,
                  "window_s": options.window_s, "redecoded": redecoded},
        segments=tuple(segments),
        processing_s=round(processing_s, 3),
        task=options.task,
        languages=tuple(heard_languages),
    )


#: With sequential decoding, speech whose language was detected is checked again every this
#: many seconds after its first 30 s, each check one 30 s piece starting at a segment (an
#: encoder pass each; the batched pipeline's checks cost no encoding of their own).
LANGUAGE_CHECK_EVERY_S = 60.0


def _languages_heard(model: Any, samples: Any, offset: float,
                     found: list[Segment]) -> list[HeardLanguage]:
    """The language of 30 s pieces of a window's speech, one every ``LANGUAGE_CHECK_EVERY_S``
    after the input's first 30 s: one encoder pass each, no decoding."""
    heard: list[HeardLanguage] = []
    next_check = 30.0
    for seg in found:
        if seg.start < next_check:
            continue
        first = int((seg.start - offset) * SAMPLE_RATE)
        piece = samples[first:first + 30 * SAMPLE_RATE]
        if len(piece) < 5 * SAMPLE_RATE:  # too little speech left in the window to tell
            break
        code, probability, _ = model.detect_language(audio=piece)
        heard.append(HeardLanguage(start=round(float(seg.start), 3), language=code,
                                   probability=round(float(probability), 4)))
        next_check = seg.start + LANGUAGE_CHECK_EVERY_S
    return heard


def pcm_windows(audio: Path, window_s: float) -> Iterator[tuple[float, Any]] | None:
    """``(offset_s, float32 samples)`` windows of a 16 kHz mono 16-bit WAV, each at most
    ``window_s`` long and cut in the longest pause of its last 30 s; None for any other file.
    At most one window is in memory at a time."""
    try:
        with wave.open(str(audio), "rb") as wav:
            if (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) != (1, 2, SAMPLE_RATE):
                return None
            total = wav.getnframes()
    except (wave.Error, EOFError, OSError):
        return None
    if total == 0:
        return None
    size = max(int(window_s * SAMPLE_RATE), 2 * int(CUT_SEARCH_S * SAMPLE_RATE))
    return _windows(audio, total, size)


def wav_seconds(audio: Path) -> float:
    """The length of a WAV file in seconds (0 for any other file)."""
    try:
        with wave.open(str(audio), "rb") as wav:
            return wav.getnframes() / float(wav.getframerate() or 1)
    except (wave.Error, EOFError, OSError):
        return 0.0


def _windows(audio: Path, total: int, size: int) -> Iterator[tuple[float, Any]]:
    import numpy as np

    for start, pcm in pcm_pieces(audio, total, size):
        # the same values faster-whisper's own decoder gives: s16 / 32768
        yield start / SAMPLE_RATE, pcm.astype(np.float32) / 32768.0


def pcm_pieces(audio: Path, total: int, size: int,
               search_s: float = CUT_SEARCH_S) -> Iterator[tuple[int, Any]]:
    """``(first frame, int16 samples)`` of consecutive pieces of a 16 kHz mono WAV of
    ``total`` frames, each at most ``size`` frames and cut in the longest pause of its last
    ``search_s`` seconds. One piece is read at a time."""
    import numpy as np

    start = 0
    with wave.open(str(audio), "rb") as wav:
        while start < total:
            wav.setpos(start)
            pcm = np.frombuffer(wav.readframes(min(size, total - start)), dtype="<i2")
            if start + len(pcm) < total:
                pcm = pcm[:quiet_cut(pcm, search_s)]
            yield start, pcm
            start += len(pcm)


def quiet_cut(pcm: Any, search_s: float = CUT_SEARCH_S) -> int:
    """Where to end a window of ``pcm`` samples: the middle of the longest pause in its last
    ``search_s`` seconds. A pause is a run of 100 ms frames no louder than four times the
    quietest fifth of them, so gaps between words lose to the silence between sentences."""
    import numpy as np

    search = int(search_s * SAMPLE_RATE)
    first = max(len(pcm) - search, 0)
    frames = (len(pcm) - first) // _FRAME
    tail = pcm[first:first + frames * _FRAME].astype(np.float32).reshape(frames, _FRAME)
    energy = np.square(tail).mean(axis=1)
    quiet = np.concatenate([[False], energy <= 4 * np.percentile(energy, 20) + 1e-6, [False]])
    edges = np.flatnonzero(np.diff(quiet.astype(np.int8)))  # run starts and ends, paired
    starts, ends = edges[::2], edges[1::2]
    longest = int(np.argmax(ends - starts))
    middle = (starts[longest] + ends[longest]) / 2
    return first + int(middle * _FRAME)


#: A decoded segment longer than this is split into its sentences at the words that end
#: them: the batched pipeline returns one segment per 30 s batch, and subtitles and chunk
#: boundaries need sentences.
SENTENCE_SPLIT_S = 12.0
_SENTENCE_END = (".", "?", "!", "…", "。", "？", "！")


def _failed(seg: Any) -> bool:
    return seg.compression_ratio > MAX_COMPRESSION_RATIO or seg.avg_logprob < MIN_AVG_LOGPROB


def _sentences(seg: Any, offset: float = 0.0, fallback: bool = False) -> list[Segment]:
    """``seg`` as one or more segments (ids set by :func:`_numbered`), shifted by ``offset``;
    each piece keeps the decoder's confidence figures of the whole. ``fallback``: ``seg``
    decodes a failed batch again."""
    words = [Word(start=round(w.start + offset, 3), end=round(w.end + offset, 3), word=w.word,
                  probability=round(w.probability, 4)) for w in (seg.words or ())]
    confidence = {"avg_logprob": round(float(seg.avg_logprob), 4),
                  "no_speech_prob": round(float(seg.no_speech_prob), 4),
                  "compression_ratio": round(float(seg.compression_ratio), 3),
                  "fallback": fallback or seg.temperature > 0}
    if seg.end - seg.start <= SENTENCE_SPLIT_S or not words:
        return [Segment(id=0, start=round(seg.start + offset, 3), end=round(seg.end + offset, 3),
                        text=seg.text.strip(), words=tuple(words), **confidence)]
    pieces: list[list[Word]] = [[]]
    for word in words:
        pieces[-1].append(word)
        if word.word.strip().endswith(_SENTENCE_END):
            pieces.append([])
    return [Segment(id=0, start=p[0].start, end=p[-1].end,
                    text="".join(w.word for w in p).strip(), words=tuple(p), **confidence)
            for p in pieces if p]


def _numbered(segments: list[Segment], first: int = 0) -> list[Segment]:
    return [dataclasses.replace(s, id=first + i) for i, s in enumerate(segments)]
