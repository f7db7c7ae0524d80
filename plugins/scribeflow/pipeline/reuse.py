"""A video processed before from the same inputs, found before anything heavy is imported.

When a run of ``video_pipeline`` ends with every step done (nothing degraded), its last task
records the run under ``reuse/<key>.json`` in the data folder. The key is a digest of what
decides the outputs: the source (a local file by its content, a URL as given), the settings
that change results, the LLM endpoint and model, the prompts, the transcription endpoint
when one is used, the embedding model and Scribeflow's version. ``scribeflow run`` computes
the same key from its options and, when a record exists whose files and stored rows are
all still there, prints that run's summary instead of starting Airflow at all (0.44 s
against 9.3 s for a DAG run whose every step reuses its work: P14,
bench/per_video_overhead.py).

Anything that cannot be told this way (the data folder on object storage, a connection
only the metadata database holds in encrypted form, a PostgreSQL metadata database) runs
the DAG, whose steps reuse what they can.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scribeflow import __version__
from scribeflow.core import connections
from scribeflow.core.config import DeploymentSettings, PipelineSettings
from scribeflow.core.connections import Connection
from scribeflow.core.endpoints import LLMSettings, TranscriptionSettings
from scribeflow.core.errors import ScribeflowError
from scribeflow.core.files import DataPaths, read_json, write_json_atomic

log = logging.getLogger(__name__)

#: Settings that change what a run produces (the others: where, how fast, how many at once).
RESULT_SETTINGS = ("language", "transcriber", "whisper_model", "whisper_device", "beam_size",
                   "whisper_batched", "whisper_batch_size", "vad_filter", "chunk_words",
                   "embed_model", "store", "quiz", "quiz_per_chunk", "chapter_chunks",
                   "quality_chars", "allow_degraded", "max_duration", "translate_to",
                   "subtitle_chars", "subtitle_lines", "diarize", "num_speakers",
                   "min_speakers", "max_speakers", "summary", "summary_chars")
#: Files a finished run leaves in the video's folder (the quiz's too when it made one).
OUTPUTS = ("metadata.json", "transcript.json", "document.md", "document_chunks.json",
           "document.html", "document.pdf")
QUIZ_OUTPUTS = ("quiz.json", "quiz.html", "quiz.pdf")


class Unknown(Exception):
    """An input of the key cannot be read without Airflow: the DAG runs."""


def source_identity(url: str) -> str:
    """A local file by its content (the video id it gets), any other source as given."""
    from scribeflow.sources.download import file_video_id, local_path

    path = local_path(url.strip())  # a missing file raises BadInputError
    return file_video_id(path.resolve()) if path is not None else url.strip()


def llm_fingerprint(llm: LLMSettings) -> list[Any]:
    return [llm.base_url, llm.model, llm.fallback_model, llm.temperature] if llm.configured else []


def request_key(url: str, settings: PipelineSettings, llm: LLMSettings,
                endpoint: TranscriptionSettings | None) -> str:
    """The digest of what decides a run's outputs (see the module's docstring)."""
    from scribeflow.index.embedding import model_label

    values = {
        "source": source_identity(url),
        "settings": {name: getattr(settings, name) for name in RESULT_SETTINGS},
        "llm": llm_fingerprint(llm),
        "prompts": prompts_digest(settings.prompts),
        "endpoint": ([endpoint.base_url, endpoint.model] if settings.transcriber == "endpoint"
                     and endpoint is not None else None),
        "embed_model": model_label(settings.embed_model),
        "scribeflow": __version__,
    }
    return hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()[:32]


def prompts_digest(prompts: Path) -> str:
    """The prompt templates a run renders: the shipped ones and a folder replacing some."""
    from scribeflow.core.config import PROJECT_ROOT

    digest = hashlib.sha256()
    for folder in dict.fromkeys([PROJECT_ROOT / "include" / "prompts", Path(prompts)]):
        for path in sorted(Path(folder).glob("*.md")):
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def rows_digest(rows: Iterable[Any]) -> str:
    """The stored rows of a video by id and content hash."""
    pairs = sorted((r.id, r.content_hash or "") for r in rows)
    return hashlib.sha256(json.dumps(pairs).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Done:
    """A finished run of these inputs: its id, the video, and what it stored."""

    key: str
    run_id: str
    video_id: str
    rows: int
    rows_digest: str
    quiz: bool

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "run_id": self.run_id, "video_id": self.video_id,
                "rows": self.rows, "rows_digest": self.rows_digest, "quiz": self.quiz}


def record_done(data: DataPaths, done: Done) -> Path:
    path = data.reuse_record(done.key)
    write_json_atomic(path, done.to_dict())
    return path


def find_done(data: DataPaths, key: str, store: Any) -> tuple[Done | None, str]:
    """The recorded run of ``key`` when everything it made is still there, and why not."""
    path = data.reuse_record(key)
    if not path.exists():
        return None, "not processed before with these inputs"
    try:
        done = Done(**read_json(path))
    except (OSError, ValueError, TypeError):
        return None, f"unreadable record {path.name}"
    video = data.video(done.video_id)
    missing = [name for name in OUTPUTS + (QUIZ_OUTPUTS if done.quiz else ())
               if not (video.root / name).exists()]
    if missing:
        return None, f"{', '.join(missing)} missing from {video.root}"
    summary = data.run_summary(done.run_id)
    if not summary.exists() or read_json(summary).get("status") != "success":
        return None, f"the summary of run {done.run_id} is gone"
    try:
        rows = store.video_rows(done.video_id)
    except ScribeflowError as exc:
        return None, f"the store could not be read: {exc}"
    if len(rows) != done.rows or rows_digest(rows) != done.rows_digest:
        return None, "the store's rows of the video changed"
    return done, ""


# -- the inputs of the key, as ``scribeflow run`` reads them without Airflow --------------


def connection(conn_id: str, env: Mapping[str, str]) -> Connection | None:
    """Connection ``conn_id`` where tasks find it first, without importing Airflow:
    ``AIRFLOW_CONN_<ID>`` (JSON or URI, :mod:`scribeflow.core.connections`), else a SQLite
    metadata database's row; None when there is none. Raises :class:`Unknown` where only
    Airflow could read it."""
    database = env.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "")
    try:
        return connections.resolve(conn_id, env, lambda c: _sqlite_connection(c, database))
    except ScribeflowError as exc:
        raise Unknown(str(exc)) from None


def _sqlite_connection(conn_id: str, database: str) -> Connection | None:
    if not database.startswith("sqlite:///"):
        raise Unknown("the metadata database is not SQLite")
    path = Path(database.removeprefix("sqlite:///").partition("?")[0])
    if not path.exists():
        return None
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as db:
            row = db.execute("SELECT host, schema, port, extra, is_extra_encrypted, "
                             "coalesce(password, '') <> '' FROM connection WHERE conn_id = ?",
                             (conn_id,)).fetchone()
    except sqlite3.Error as exc:
        raise Unknown(f"the metadata database could not be read: {exc}") from None
    if row is None:
        return None
    host, schema, port, extra, encrypted, has_password = row
    if encrypted:
        raise Unknown(f"connection {conn_id!r} has an encrypted extra")
    # the password itself is not read: that it is set is all the key needs
    return Connection(host=host, schema=schema, port=port, extra=json.loads(extra or "{}"),
                      password="set" if has_password else None, origin=f"connection {conn_id}")


def llm_from(env: Mapping[str, str]) -> LLMSettings:
    """The LLM settings a task would use: ``openai_default``, else the ``OPENAI_*`` env."""
    return _settings(connections.llm_settings, env)


def endpoint_from(env: Mapping[str, str]) -> TranscriptionSettings:
    return _settings(connections.transcription_settings, env)


def _settings(read: Any, env: Mapping[str, str]) -> Any:
    """``read(env, stored)`` with the metadata database's SQLite file as ``stored``; what only
    Airflow could read (or a connection named but missing) is :class:`Unknown`."""
    database = env.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "")
    try:
        return read(env, lambda c: _sqlite_connection(c, database))[0]
    except ScribeflowError as exc:
        raise Unknown(str(exc)) from None


def pgvector_dsn_from(env: Mapping[str, str]) -> str | None:
    conn = connection(connections.PGVECTOR_CONN_ID, env)
    if conn is not None and conn.origin != connections.variable(connections.PGVECTOR_CONN_ID):
        raise Unknown("the pgvector connection is in the metadata database")
    return connections.pgvector_dsn(conn, DeploymentSettings.from_env(env).pgvector_dsn)
