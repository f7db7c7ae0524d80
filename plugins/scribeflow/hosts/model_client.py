"""Requests to the model host (:mod:`scribeflow.hosts.model_host`) from the processes that
use its models: the tasks (transcription, speakers, embeddings), search servers (a query's
vector), ``scribeflow models status`` and ``doctor``. The protocol is the host's: one JSON
request per connection on its Unix socket, vectors after the answer as raw float32 bytes."""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import Callable, Iterator
from multiprocessing.connection import Client, Connection
from pathlib import Path
from typing import Any

from scribeflow.core.errors import BadInputError, ConfigError, ScribeflowError, one_line
from scribeflow.core.records import Diarization, EmbeddedUnit, Transcript

#: How long a client waits for an answer: a long video's transcription on a CPU.
ANSWER_TIMEOUT_S = 6 * 3600.0


class ModelHostUnavailable(ScribeflowError):
    """The model host is not running (a retry finds it once it is back)."""


def not_running(address: str, reason: str) -> ModelHostUnavailable:
    return ModelHostUnavailable(
        f"model host not running at {address} (SCRIBEFLOW_MODEL_HOST): {reason}; start it "
        "with `scribeflow models serve`, or unset SCRIBEFLOW_MODEL_HOST to load the models "
        "in each task")


class ModelHostClient:
    """Requests to the model host at ``address`` (a Unix socket path)."""

    def __init__(self, address: str | Path):
        self.address = str(address)

    @contextlib.contextmanager
    def _connection(self) -> Iterator[Connection]:
        try:
            conn = Client(self.address, family="AF_UNIX")
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            raise not_running(self.address, exc.strerror or type(exc).__name__) from None
        except OSError as exc:
            raise not_running(self.address, one_line(exc)) from None
        try:
            yield conn
        finally:
            conn.close()

    def call(self, request: dict[str, Any],
             progress: Callable[[float, float], None] | None = None
             ) -> tuple[dict[str, Any], bytes | None]:
        """The answer to ``request``, and the bytes that follow it (vectors), if any; the
        host's progress messages before it go to ``progress(done, total)``."""
        with self._connection() as conn:
            try:
                conn.send_bytes(json.dumps(request).encode())
                while True:
                    if not conn.poll(ANSWER_TIMEOUT_S):
                        raise ScribeflowError(f"model host at {self.address}: no answer within "
                                              f"{ANSWER_TIMEOUT_S:.0f} s")
                    answer = json.loads(conn.recv_bytes())
                    if "progress" not in answer:
                        break
                    if progress is not None:
                        progress(*answer["progress"])
                payload = conn.recv_bytes() if answer.get("payload") else None
            except (EOFError, ConnectionResetError, BrokenPipeError):
                raise ScribeflowError(f"model host at {self.address} closed the connection "
                                      "mid-request (restarted or out of memory?)") from None
        if not answer.get("ok"):
            kind = {"bad_input": BadInputError, "config": ConfigError}.get(answer.get("kind"),
                                                                            ScribeflowError)
            raise kind(answer.get("error") or "the model host failed")
        return answer, payload

    def transcribe(self, audio: Path, video_id: str, options: Any,
                   progress: Callable[[float, float], None] | None = None) -> Transcript:
        answer, _ = self.call({"op": "transcribe", "audio": str(Path(audio).resolve()),
                               "video_id": video_id, "options": dataclasses.asdict(options)},
                              progress)
        return Transcript.from_dict(answer["transcript"])

    def find_speakers(self, audio: Path, transcript: Path, options: Any) -> Diarization:
        """:func:`scribeflow.speech.speakers.diarize` on the host."""
        paths = {"audio": str(Path(audio).resolve()), "transcript": str(Path(transcript).resolve())}
        answer, _ = self.call({"op": "speakers", **paths, "options": dataclasses.asdict(options)})
        return Diarization.from_dict(answer["diarization"])

    def embed(self, model: str, texts: list[str], batch_size: int
              ) -> list[list[EmbeddedUnit]]:
        """:func:`scribeflow.index.embedding.embed_chunks` on the host."""
        import numpy as np

        from scribeflow.index.embedding import regroup

        answer, payload = self.call({"op": "embed", "model": model, "texts": texts,
                                     "batch_size": batch_size})
        units = len([u for chunk in answer["units"] for u in chunk])
        rows = units + sum(answer["windows"])
        vectors = (np.frombuffer(payload or b"", dtype=np.float32).reshape(rows, answer["dim"])
                   if rows else np.zeros((0, 0), np.float32))
        return regroup(answer["units"], answer["windows"], vectors[:units], vectors[units:])

    def query_vector(self, model: str, query: str) -> Any:
        """A search's query vector from the host's embedding model ``model`` (normalised, as
        :func:`scribeflow.index.embedding.embed_query` gives it); a query over the model's
        input limit raises :class:`BadInputError` there as here."""
        import numpy as np

        _, payload = self.call({"op": "query", "model": model, "query": query})
        return np.frombuffer(payload or b"", dtype=np.float32)

    def status(self) -> dict[str, Any]:
        return self.call({"op": "status"})[0]
