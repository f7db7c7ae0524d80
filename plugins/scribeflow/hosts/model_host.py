"""One long-lived process per worker host that keeps the whisper and embedding models loaded.

Airflow 3 runs every task in a process of its own, so a model cached in a task's process
serves that task only: each video loaded faster-whisper and sentence-transformers again
(large-v3 on the cuda queue). ``scribeflow models serve`` loads them once and serves the
tasks of its host over a Unix socket; with ``SCRIBEFLOW_MODEL_HOST`` set to that socket the
``transcribe`` and ``embed_and_upsert`` steps send it their work instead of loading models.

Why a thin service of our own rather than an OpenAI-compatible server (speaches for
whisper, infinity-emb for embeddings), which the ``endpoint`` transcriber already reaches:

- *The same results as in-task loading.* The host runs the very functions a task runs
  (:func:`scribeflow.speech.whisper.transcribe` with the run's full options: batched decoding,
  beam, VAD, word timestamps; :func:`scribeflow.index.embedding.split_units` with the model's own
  tokenizer). The OpenAI APIs carry a model name and a language, not these options, nor
  the unit splitting that keeps every unit within the embedding model's 256 word pieces.
- *Paths, not payloads.* The tasks of a host share its disk, so a request names the audio
  file; nothing is uploaded or cut into pieces.
- Neither engine installs beside this product: speaches ships as a container image only;
  infinity-emb 0.0.78 would downgrade numpy, huggingface-hub, click and uvicorn under
  Airflow 3.3 and sentence-transformers 6 (``pip install --dry-run "infinity-emb[server]"``).

Protocol: ``multiprocessing.connection`` on a Unix socket (mode 0600), one request per
connection; each message is JSON, vectors follow as raw float32 bytes, so nothing is
unpickled. Requests: ``transcribe`` (audio path, video id, options), ``speakers`` (audio and
transcript paths, speaker counts: who spoke when), ``embed`` (model, texts, batch size),
``query`` (model, a search's query: its vector), ``status`` (models resident, loads per
model, requests, memory). Errors come back as one line with their kind (``bad_input``,
``config``, ``error``) and are raised in the task as the same
:class:`~scribeflow.core.errors.ScribeflowError` subclass.

Memory is bounded by ``max_models`` (``--max-models``): loading one more unloads the least
recently used. Each model serves one request at a time (its own lock). Models on a GPU serve
side by side; models on the CPU take turns, each with every core (run at once, their threads
oversubscribed the cores: P15 in ``bench/README.md``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import json
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from multiprocessing.connection import Client, Connection, Listener
from pathlib import Path
from typing import Any

from scribeflow.core.errors import BadInputError, ConfigError, ScribeflowError, one_line
from scribeflow.core.records import Transcript
from scribeflow.hosts.model_client import ModelHostClient

log = logging.getLogger(__name__)


def _progress_to(conn: Connection, every_s: float = 1.0) -> Callable[[float, float], None]:
    """A progress callback that sends ``{"progress": [done, total]}`` to the task waiting on
    ``conn``, at most once every ``every_s`` seconds."""
    last = [float("-inf")]

    def send(done: float, total: float) -> None:
        now = time.monotonic()
        if now - last[0] >= every_s:
            last[0] = now
            conn.send_bytes(json.dumps({"progress": [round(done, 2), round(total, 2)]}).encode())

    return send


@dataclasses.dataclass
class _Resident:
    label: str
    unload: Callable[[], None]
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)


class ModelHost:
    """Serves one host's tasks; models are loaded on first use (or at start, ``preload``)
    and kept, at most ``max_models`` of them, least recently used unloaded first."""

    def __init__(self, address: str | Path, max_models: int = 2):
        if max_models < 1:
            raise ConfigError(f"max_models must be at least 1, not {max_models}")
        self.address = str(address)
        self.max_models = max_models
        self.loads: dict[str, int] = {}
        self.requests = 0
        self._resident: OrderedDict[tuple, _Resident] = OrderedDict()
        self._lock = threading.Lock()  # guards the table of resident models, not their use
        self._cpu = threading.Lock()  # the CPU's turn (see the module's docstring)
        self._listener: Listener | None = None
        self._stopped = threading.Event()

    def _model(self, key: tuple, label: str, load: Callable[[], Any],
               unload: Callable[[], None]) -> tuple[Any, threading.Lock]:
        """The model ``key`` and its lock, loaded now if it is not resident."""
        with self._lock:
            resident = self._resident.get(key)
            if resident is not None:
                self._resident.move_to_end(key)
                return load(), resident.lock  # the module's cache answers at once
            while len(self._resident) >= self.max_models:
                old_key, old = self._resident.popitem(last=False)
                with old.lock:  # wait for its request in flight
                    old.unload()
                gc.collect()
                log.info("unloaded %s (at most %d models resident)", old.label, self.max_models)
            started = time.perf_counter()
            model = load()
            self.loads[label] = self.loads.get(label, 0) + 1
            self._resident[key] = _Resident(label=label, unload=unload)
            log.info("loaded %s in %.2f s (load %d of it)", label, time.perf_counter() - started,
                     self.loads[label])
            return model, self._resident[key].lock

    def _whisper(self, options: Any) -> tuple[Any, threading.Lock]:
        from scribeflow.speech import whisper
        from scribeflow.speech.models import resolve_whisper_model, whisper_model_label

        device = whisper.resolve_device(options.device)
        name = resolve_whisper_model(options.model, device, options.language)
        compute = whisper.compute_type_for(device)
        threads = whisper.cpu_threads_for(options.cpu_threads) if device == "cpu" else 0
        key = ("whisper", name, device, compute, threads)
        return self._model(
            key, f"whisper {whisper_model_label(name)} ({device}/{compute})",
            lambda: whisper.load_model(name, device, compute, options.cpu_threads),
            lambda: whisper.unload_model(name, device, compute, options.cpu_threads))

    def _embedder(self, name: str) -> tuple[Any, threading.Lock]:
        from scribeflow.index import embedding

        key = ("embed", embedding.resolve_model(name))
        return self._model(key, f"embedding {embedding.model_label(name)}",
                           lambda: embedding.load_embedder(name),
                           lambda: embedding.unload_embedder(name))

    def _speaker_encoder(self) -> tuple[Any, threading.Lock]:
        from scribeflow.speech import speaker_model as model

        return self._model(("speakers", model.MODEL), f"speakers {model.MODEL}",
                           model.encoder, model.unload_encoder)

    def preload(self, whisper: Any | None, embed_model: str | None, speakers: bool = False) -> None:
        if whisper is not None:
            self._whisper(whisper)
        if speakers:
            self._speaker_encoder()
        if embed_model is not None:
            self._embedder(embed_model)

    def handle(self, request: dict[str, Any],
               progress: Callable[[float, float], None] | None = None
               ) -> tuple[dict[str, Any], bytes | None]:
        """The answer to one request (and the bytes that follow it); a transcription tells
        ``progress(done_s, total_s)`` how far it got."""
        op = request.get("op")
        if op == "status":
            return self.status(), None
        self.requests += 1
        if op == "transcribe":
            return self._transcribe(request, progress), None
        if op == "embed":
            return self._embed(request)
        if op == "query":
            return self._query(request)
        if op == "speakers":
            return self._speakers(request), None
        raise BadInputError(f"unknown model host request {op!r}")

    def _transcribe(self, request: dict[str, Any],
                    progress: Callable[[float, float], None] | None = None) -> dict[str, Any]:
        from scribeflow.speech.whisper import TranscribeOptions, transcribe

        try:
            options = TranscribeOptions(**request["options"])
        except (KeyError, TypeError) as exc:
            raise BadInputError(f"bad transcribe request: {one_line(exc)}") from None
        audio = Path(request.get("audio") or "")
        if not audio.is_file():
            raise BadInputError(f"audio not found on the model host: {audio} (the tasks and "
                                "the host must share this host's disk)")
        from scribeflow.speech.whisper import resolve_device

        _, lock = self._whisper(options)
        with lock, self._turn(resolve_device(options.device)):
            transcript = transcribe(audio, str(request.get("video_id") or audio.stem), options,
                                    progress)
        return {"ok": True, "transcript": transcript.to_dict()}

    def _speakers(self, request: dict[str, Any]) -> dict[str, Any]:
        from scribeflow.core.files import read_json
        from scribeflow.speech.speakers import SpeakerOptions, diarize

        try:
            options = SpeakerOptions(**request["options"])
        except (KeyError, TypeError) as exc:
            raise BadInputError(f"bad speakers request: {one_line(exc)}") from None
        audio, transcript = (Path(request.get(k) or "") for k in ("audio", "transcript"))
        if missing := [str(p) for p in (audio, transcript) if not p.is_file()]:
            raise BadInputError(f"not found on the model host: {', '.join(missing)} (the tasks "
                                "and the host must share this host's disk)")
        segments = Transcript.from_dict(read_json(transcript)).segments
        model, lock = self._speaker_encoder()
        with lock, self._turn(model.device):
            return {"ok": True, "diarization": diarize(audio, segments, options, model).to_dict()}

    def _embed(self, request: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
        import numpy as np

        from scribeflow.index.embedding import embed_chunks

        texts = request.get("texts")
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            raise BadInputError("bad embed request: texts must be a list of strings")
        model, lock = self._embedder(str(request.get("model") or "auto"))
        with lock, self._turn(str(model.device)):
            embedded = embed_chunks(model, texts, int(request.get("batch_size") or 64))
        flat = [u for chunk in embedded for u in chunk]
        vectors = [u.vector for u in flat] + [v for u in flat for v in u.windows]
        dim = len(vectors[0]) if vectors else 0
        payload = np.asarray(vectors, dtype=np.float32).tobytes() if vectors else b""
        return {"ok": True, "units": [[u.text for u in chunk] for chunk in embedded],
                "windows": [len(u.windows) for u in flat], "dim": dim, "payload": True}, payload

    def _query(self, request: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
        """A search's query vector (:func:`~scribeflow.index.embedding.embed_queries`), at once:
        it takes the model's lock but not the CPU's turn, which a transcription may hold for
        minutes (one query is milliseconds of the model)."""
        import numpy as np

        from scribeflow.index.embedding import embed_queries

        query = request.get("query")
        if not isinstance(query, str):
            raise BadInputError("bad query request: query must be a string")
        model, lock = self._embedder(str(request.get("model") or "auto"))
        with lock:
            (vector,) = embed_queries(model, [query])
        if isinstance(vector, BadInputError):
            raise vector
        return {"ok": True, "payload": True}, np.asarray(vector, dtype=np.float32).tobytes()

    def _turn(self, device: str) -> contextlib.AbstractContextManager:
        """The CPU's turn for a model on ``device`` (``cpu``); nothing to wait for on a GPU."""
        return self._cpu if device.startswith("cpu") else contextlib.nullcontext()

    def status(self) -> dict[str, Any]:
        from scribeflow.core.timings import peak_memory_mb

        with self._lock:
            resident = [r.label for r in self._resident.values()]
        return {"ok": True, "pid": os.getpid(), "models": resident, "loads": dict(self.loads),
                "requests": self.requests, "max_models": self.max_models,
                "peak_memory_mb": peak_memory_mb()}

    def serve(self, ready: Callable[[], None] | None = None) -> None:
        """Answer requests until :meth:`stop`, each connection on a thread of its own."""
        path = Path(self.address)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            try:  # a host that answers owns the socket; a stale file is replaced
                ModelHostClient(path).status()
            except ScribeflowError:
                path.unlink()
            else:
                raise ConfigError(f"a model host is already running at {path}")
        old_mask = os.umask(0o177)  # the socket is this user's only
        try:
            self._listener = Listener(str(path), family="AF_UNIX")
        finally:
            os.umask(old_mask)
        log.info("model host at %s (at most %d models)", path, self.max_models)
        if ready is not None:
            ready()
        try:
            while not self._stopped.is_set():
                try:
                    conn = self._listener.accept()
                except OSError:
                    if self._stopped.is_set():
                        break
                    raise
                threading.Thread(target=self._serve_one, args=(conn,), daemon=True,
                                 name="model-host-request").start()
        finally:
            with contextlib.suppress(OSError):
                self._listener.close()
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def stop(self) -> None:
        self._stopped.set()
        if self._listener is not None:
            with contextlib.suppress(OSError):  # wakes accept()
                Client(self.address, family="AF_UNIX").close()

    def _serve_one(self, conn: Connection) -> None:
        try:
            request = json.loads(conn.recv_bytes())
            if not isinstance(request, dict):
                request = {"op": repr(request)[:40]}  # answered as an unknown request
            try:
                answer, payload = self.handle(request, _progress_to(conn))
            except ScribeflowError as exc:
                from scribeflow.core.errors import error_kind

                kind = error_kind(exc)
                answer, payload = {"ok": False, "error": str(exc), "kind": kind}, None
                log.warning("%s request failed: %s", request.get("op"), exc)
            except Exception as exc:  # the host stays up for the next request
                log.exception("%s request failed", request.get("op"))
                answer, payload = {"ok": False, "error": one_line(exc), "kind": "error"}, None
            conn.send_bytes(json.dumps(answer).encode())
            if payload is not None:
                conn.send_bytes(payload)
        except (EOFError, OSError, ValueError):  # the task went away, or sent no JSON
            pass
        finally:
            conn.close()
