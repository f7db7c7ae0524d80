"""Speech to text through an OpenAI-compatible transcription endpoint
(``/v1/audio/transcriptions``: OpenAI's hosted models, or servers that speak the same API).

The pipeline's 16 kHz mono WAV goes up in pieces no larger than the endpoint's upload limit
(25 MB for OpenAI, about 13 minutes of this audio), each cut in the longest pause of its
last 30 s as the local backend's windows are. Pieces do not overlap and no word is cut in
two, so shifting each piece's times by its start stitches them back without a gap and
without a word twice at a seam. A piece the endpoint refuses as too large (413) is split
again at a pause into pieces half its size, and the smaller limit is remembered for that
endpoint (beside the LLM's endpoint facts), so later pieces and runs start with it.

Segment and word timestamps are asked for (``verbose_json`` with
``timestamp_granularities``). Where an endpoint gives no words, segment times are kept;
where it refuses ``verbose_json`` (gpt-4o-transcribe takes plain ``json``), each piece is
one segment. ``Transcript.timestamps`` says which. Requests follow the chat endpoint's
retry policy (429, 5xx, timeouts, dropped connections); the key comes from the
``openai_transcription`` connection or the environment, and is never logged.
"""

from __future__ import annotations

import io
import logging
import time
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scribeflow.core.errors import ConfigError, ScribeflowError
from scribeflow.core.languages import language_code
from scribeflow.core.records import Segment, Transcript, Word
from scribeflow.speech.whisper import CUT_SEARCH_S, SAMPLE_RATE, pcm_pieces, quiet_cut

if TYPE_CHECKING:
    from scribeflow.core.cache import LLMCache
    from scribeflow.core.endpoints import TranscriptionSettings

log = logging.getLogger(__name__)

#: Bytes of a WAV header before the samples.
WAV_HEADER = 44
#: A piece shorter than this that is still refused as too large ends the run: the limit
#: cannot be the audio's length.
MIN_PIECE_S = 5.0
#: Weakest first: a transcript is as precise as its least precise piece.
_PRECISION = ("piece", "segment", "word")


class TranscriptionUnavailable(ScribeflowError):
    """The endpoint could not be reached, or kept failing after retries."""


class _TooLarge(Exception):
    pass


class _NoVerbose(Exception):
    pass


@dataclass
class EndpointUsage:
    requests: int = 0
    retries: int = 0
    pieces: int = 0
    bytes_sent: int = 0
    too_large: int = 0
    precision: set[str] = field(default_factory=set)


def transcribe_endpoint(audio: Path, video_id: str, settings: TranscriptionSettings,
                        language: str = "auto", cache: LLMCache | None = None) -> Transcript:
    """``audio`` (the pipeline's 16 kHz mono WAV) transcribed by the endpoint."""
    import asyncio

    if not settings.configured:
        raise ConfigError("no transcription endpoint configured: set the openai_transcription "
                          "connection, or SCRIBEFLOW_TRANSCRIPTION_BASE_URL (and _API_KEY), or "
                          "OPENAI_API_KEY for OpenAI")
    try:
        with wave.open(str(audio), "rb") as wav:
            shape = (wav.getnchannels(), wav.getsampwidth(), wav.getframerate())
            total = wav.getnframes()
    except (wave.Error, EOFError, OSError) as exc:
        raise ScribeflowError(f"cannot read {audio.name} as WAV: {exc}") from None
    if shape != (1, 2, SAMPLE_RATE):
        raise ScribeflowError(f"{audio.name} is not 16 kHz mono 16-bit WAV, which the "
                              "download step writes")
    return asyncio.run(_Endpoint(settings, cache).transcribe(audio, total, video_id, language))


class _Endpoint:
    def __init__(self, settings: TranscriptionSettings, cache: LLMCache | None):
        import asyncio

        import openai

        self.settings = settings
        self.cache = cache
        self.usage = EndpointUsage()
        #: What was learned about this endpoint and model, read once and kept up to date.
        self._known = dict(cache.endpoint_facts().get(self._fact_key, {})) if cache else {}
        self.verbose = not self._known.get("json_only", False)
        self._slots = asyncio.Semaphore(settings.concurrency)
        self._client = openai.AsyncOpenAI(base_url=settings.base_url,
                                          api_key=settings.api_key or "unused",
                                          timeout=settings.timeout_s, max_retries=0)

    @property
    def _fact_key(self) -> str:
        return f"{self.settings.endpoint} transcriptions {self.settings.model}"

    def _learn(self, **facts: Any) -> None:
        self._known |= facts
        if self.cache is not None:
            self.cache.learn_endpoint(self._fact_key, **facts)

    def limit_bytes(self) -> int:
        """The largest upload: the setting, or what the endpoint taught us if smaller."""
        limit = int(self.settings.max_upload_mb * 1_000_000)
        learned = self._known.get("max_upload_bytes")
        return min(limit, int(learned)) if learned else limit

    async def transcribe(self, audio: Path, total: int, video_id: str,
                         language: str) -> Transcript:
        import asyncio

        started = time.perf_counter()
        frames = max((self.limit_bytes() - WAV_HEADER) // 2, SAMPLE_RATE)
        search = min(CUT_SEARCH_S, frames / SAMPLE_RATE / 2)
        lang = None if language in ("", "auto") else language
        pending: list[asyncio.Task] = []
        try:
            for start, pcm in pcm_pieces(audio, total, frames, search):
                await self._slots.acquire()  # at most `concurrency` pieces in memory
                if any(t.done() and not t.cancelled() and t.exception() for t in pending):
                    self._slots.release()
                    break  # a piece failed: send no more, gather raises its cause
                pending.append(asyncio.create_task(self._held(start, pcm, lang)))
            pieces = [p for done in await asyncio.gather(*pending) for p in done]
        finally:
            for task in pending:
                task.cancel()
            await self._client.close()
        segments, heard = _stitch(pieces)
        seams = sorted(round(start / SAMPLE_RATE, 2) for start, _, _ in pieces)[1:]
        precision = min(self.usage.precision or {"word"}, key=_PRECISION.index)
        log.info("transcribed %.1f s through %s (%s) in %d pieces, %d requests, %d retries, "
                 "%d refused as too large; %s timestamps", total / SAMPLE_RATE,
                 self.settings.endpoint, self.settings.model, self.usage.pieces,
                 self.usage.requests, self.usage.retries, self.usage.too_large, precision)
        return Transcript(
            video_id=video_id, language=lang or language_code(heard) or "unknown",
            language_probability=None, duration=round(total / SAMPLE_RATE, 3),
            model=self.settings.model, device="endpoint", compute_type="remote",
            settings={"endpoint": self.settings.endpoint, "language": language,
                      "max_upload_bytes": self.limit_bytes(), "pieces": self.usage.pieces,
                      "requests": self.usage.requests, "retries": self.usage.retries,
                      "too_large": self.usage.too_large, "seams_s": seams},
            segments=tuple(segments), processing_s=round(time.perf_counter() - started, 3),
            timestamps=precision, backend="endpoint")

    async def _held(self, start: int, pcm: Any, language: str | None) -> list[tuple[int, int, dict]]:
        try:
            return await self._piece(start, pcm, language)
        finally:
            self._slots.release()

    async def _piece(self, start: int, pcm: Any, language: str | None
                     ) -> list[tuple[int, int, dict]]:
        """``[(first frame, frames, answer)]`` for ``pcm``: one, or more when it was too large."""
        try:
            return [(start, len(pcm), await self._send(pcm, language))]
        except _TooLarge:
            self.usage.too_large += 1
            size = WAV_HEADER + 2 * len(pcm)
            if len(pcm) < MIN_PIECE_S * SAMPLE_RATE:
                raise TranscriptionUnavailable(
                    f"{self.settings.endpoint} refused a {size}-byte piece of audio as too "
                    "large (413): lower max_upload_mb in the openai_transcription connection"
                ) from None
            self._learn(max_upload_bytes=min(size // 2, self.limit_bytes()))
            log.warning("%s refused %d bytes as too large (413): sending pieces of at most "
                        "%d bytes", self.settings.endpoint, size, size // 2)
            half = len(pcm) // 2
            cut = quiet_cut(pcm[:half], min(CUT_SEARCH_S, half / SAMPLE_RATE / 2))
            return (await self._piece(start, pcm[:cut], language)
                    + await self._piece(start + cut, pcm[cut:], language))

    async def _send(self, pcm: Any, language: str | None) -> dict[str, Any]:
        data = _wav_bytes(pcm)
        self.usage.pieces += 1
        try:
            answer = await self._request(data, language)
        except _NoVerbose:
            self.verbose = False
            self._learn(json_only=True)
            log.warning("%s does not give timestamps (verbose_json) for %s: each piece is one "
                        "segment", self.settings.endpoint, self.settings.model)
            answer = await self._request(data, language)
        self.usage.precision.add(precision_of(answer))
        return answer

    async def _request(self, data: bytes, language: str | None) -> dict[str, Any]:
        import openai
        from tenacity import RetryError

        from scribeflow.core.endpoints import retry_policy

        def on_retry(exc: BaseException, attempt: int) -> None:
            self.usage.retries += 1
            log.info("transcription retry %d after %s", attempt, type(exc).__name__)

        verbose = self.verbose
        kwargs: dict[str, Any] = {"model": self.settings.model,
                                  "file": ("audio.wav", data, "audio/wav")}
        if language:
            kwargs["language"] = language
        if verbose:
            kwargs |= {"response_format": "verbose_json",
                       "timestamp_granularities": ["segment", "word"]}
        else:
            kwargs["response_format"] = "json"
        try:
            async for attempt in retry_policy(self.settings.max_attempts, on_retry):
                with attempt:
                    response = await self._client.audio.transcriptions.create(**kwargs)
        except RetryError as exc:
            cause = exc.last_attempt.exception()
            raise TranscriptionUnavailable(
                f"transcription endpoint {self.settings.endpoint} failed "
                f"{self.settings.max_attempts} times: {type(cause).__name__}: {_first_line(cause)}"
            ) from None
        except openai.APIStatusError as exc:
            if exc.status_code == 413:
                raise _TooLarge() from None
            if exc.status_code in (401, 403):
                raise ConfigError(f"transcription endpoint {self.settings.endpoint} refused the "
                                  f"API key ({exc.status_code}): check the openai_transcription "
                                  "connection's password") from None
            if exc.status_code == 404:
                raise ConfigError(f"transcription endpoint {self.settings.endpoint} has no "
                                  f"model {self.settings.model!r} or no /audio/transcriptions "
                                  "(404)") from None
            if verbose and exc.status_code in (400, 422) and _about_format(exc):
                raise _NoVerbose() from None
            raise TranscriptionUnavailable(
                f"transcription endpoint {self.settings.endpoint} rejected the audio "
                f"({exc.status_code}): {_first_line(exc.message)}") from None
        self.usage.requests += 1
        self.usage.bytes_sent += len(data)
        if isinstance(response, str):
            return {"text": response}
        return response.model_dump() if hasattr(response, "model_dump") else dict(response)


def _stitch(pieces: list[tuple[int, int, dict]]) -> tuple[list[Segment], str | None]:
    """The pieces' segments in order, shifted to their place and kept inside their piece."""
    segments: list[Segment] = []
    heard = None
    for start, frames, answer in sorted(pieces, key=lambda p: p[0]):
        offset, end = start / SAMPLE_RATE, (start + frames) / SAMPLE_RATE
        heard = heard or answer.get("language")

        def at(t: Any, offset: float = offset, end: float = end) -> float:
            return round(min(max(offset + float(t or 0.0), offset), end), 3)

        words = [Word(start=at(w.get("start")), end=at(w.get("end")), word=" " + w["word"].strip())
                 for w in answer.get("words") or () if str(w.get("word", "")).strip()]
        rows = [s for s in answer.get("segments") or () if str(s.get("text", "")).strip()]
        if not rows:
            text = str(answer.get("text") or "").strip()
            if text:
                segments.append(Segment(id=len(segments), start=offset, end=round(end, 3),
                                        text=text, words=tuple(words)))
            continue
        for row in rows:
            first, last = at(row.get("start")), at(row.get("end"))
            mine = tuple(w for w in words if first <= (w.start + w.end) / 2 <= last)
            segments.append(Segment(
                id=len(segments), start=first, end=max(last, first), text=row["text"].strip(),
                words=mine, avg_logprob=_rounded(row.get("avg_logprob"), 4),
                no_speech_prob=_rounded(row.get("no_speech_prob"), 4),
                compression_ratio=_rounded(row.get("compression_ratio"), 3),
                fallback=bool(row.get("temperature") or 0)))
    return segments, heard


def precision_of(answer: dict[str, Any]) -> str:
    if answer.get("words"):
        return "word"
    return "segment" if answer.get("segments") else "piece"


def _wav_bytes(pcm: Any) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(SAMPLE_RATE)
        wav.writeframes(pcm.tobytes())
    return out.getvalue()


def _about_format(exc: Any) -> bool:
    text = str(getattr(exc, "message", "") or exc).lower()
    return any(k in text for k in ("response_format", "verbose_json", "timestamp_granularities"))


def _first_line(text: Any) -> str:
    return str(text).strip().splitlines()[0][:300] if str(text).strip() else ""


def _rounded(value: Any, digits: int) -> float | None:
    return None if value is None else round(float(value), digits)
