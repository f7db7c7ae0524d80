"""``scribeflow doctor``: what this machine's configuration will do, checked, with a fix for
each problem. Secrets never appear: keys and passwords print as ``***``."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from scribeflow.core import connections
from scribeflow.core.config import DeploymentSettings, PipelineSettings
from scribeflow.core.endpoints import LLMSettings, TranscriptionSettings
from scribeflow.core.errors import ScribeflowError, describe


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""

    def line(self) -> str:
        head = f"{'ok' if self.ok else 'PROBLEM':<8}{self.name + ':':<12}{self.detail}"
        return head + (f"\n{'':<20}fix: {self.fix}" if self.fix else "")


def masked(url: str) -> str:
    """``url`` with its password shown as ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def stored_connection(conn_id: str) -> dict[str, Any] | None:
    """Connection ``conn_id`` as the metadata database holds it (made in the UI or with
    ``airflow connections add``), through Airflow's CLI; None when there is none."""
    import subprocess
    import sys

    from scribeflow.hosts.airflow_home import airflow_env, metadata_db_current

    env = airflow_env()
    conn = env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    if conn.startswith("sqlite:///") and not metadata_db_current(conn):
        return None  # no database yet, or not migrated: it holds no connection (and asking
        # Airflow would leave an empty file that later looks like a database)
    airflow = str(Path(sys.executable).with_name("airflow"))
    try:
        found = subprocess.run([airflow, "connections", "get", conn_id, "--output", "json"],
                               env=env, capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return None
    try:
        rows = json.loads(found.stdout) if found.returncode == 0 else []
    except ValueError:
        return None
    return rows[0] if rows else None


def find_connection(conn_id: str, env: Mapping[str, str]) -> connections.Connection | None:
    """Connection ``conn_id`` where the tasks look for it: ``AIRFLOW_CONN_<ID>`` (JSON or
    URI), then the metadata database (through Airflow's CLI: slow, so only when not in env)."""
    return connections.resolve(conn_id, env, stored)


def stored(conn_id: str) -> connections.Connection | None:
    """Connection ``conn_id`` as the metadata database holds it (:func:`stored_connection`)."""
    row = stored_connection(conn_id)
    if row is None:
        return None
    try:
        return connections.Connection.from_fields(row, origin=f"connection {conn_id}")
    except ValueError as exc:
        raise ScribeflowError(f"connection {conn_id!r} in the metadata database: {exc}") from None


def llm_settings_from_env(env: Mapping[str, str] = os.environ) -> tuple[LLMSettings, str]:
    """The LLM settings the tasks would use, where the tasks look: ``openai_default`` from
    ``AIRFLOW_CONN_OPENAI_DEFAULT`` (JSON or URI), then from the metadata database, else the
    ``OPENAI_*`` variables. Returns them and where they came from."""
    return connections.llm_settings(env, stored)


def transcription_settings_from_env(env: Mapping[str, str] = os.environ
                                    ) -> tuple[TranscriptionSettings, str]:
    """The transcription endpoint the tasks would use (``transcriber=endpoint``), and where
    it came from (:func:`scribeflow.core.connections.transcription_settings`)."""
    return connections.transcription_settings(env, stored)


def checks(env: Mapping[str, str] = os.environ) -> Iterator[Check]:
    """Every check, in the order a run needs them."""
    try:
        settings = PipelineSettings.from_env()
        DeploymentSettings.from_env(env)
    except ScribeflowError as exc:
        yield Check("settings", False, describe(exc), "correct or unset that variable")
        return
    yield Check("settings", True, "SCRIBEFLOW_* variables parse")
    yield _guarded("airflow", lambda: _airflow(env))
    if DeploymentSettings.from_env(env).run_host:
        yield _guarded("run_host", lambda: _run_host(env))
    yield _guarded("data", lambda: _data(settings))
    if settings.transcriber == "endpoint":
        yield _guarded("transcribe", lambda: _transcription(env))
    else:
        yield _guarded("whisper", lambda: _whisper(settings))
    yield _guarded("embedding", lambda: _embedding(settings))
    if settings.model_host:
        yield _guarded("model_host", lambda: _model_host(settings))
    yield _guarded("llm", lambda: _llm(env))
    yield _guarded("store", lambda: _store(settings))


def _guarded(name: str, check: Callable[[], Check]) -> Check:
    try:
        return check()
    except Exception as exc:  # noqa: BLE001 - every failure is a finding, not a crash
        return Check(name, False, describe(exc), _FIXES.get(name, ""))


_FIXES = {
    "transcribe": "set the openai_transcription connection (host, password, extra "
                  "{\"model\": ...}), or SCRIBEFLOW_TRANSCRIPTION_BASE_URL and _API_KEY",
    "llm": "set OPENAI_BASE_URL (vLLM, Ollama, llama.cpp) or OPENAI_API_KEY, and OPENAI_MODEL; "
           "or the openai_default connection",
    "store": "start the database, or correct the scribeflow_pgvector connection "
             "(or SCRIBEFLOW_PGVECTOR_DSN)",
    "embedding": "set SCRIBEFLOW_EMBED_MODEL to a sentence-transformers name or a local path",
    "whisper": "set SCRIBEFLOW_WHISPER_MODEL to a faster-whisper name or a local path",
    "data": "correct SCRIBEFLOW_DATA, or the scribeflow_data connection (or AWS_* variables)",
    "model_host": "start `scribeflow models serve` on this host, or unset "
                  "SCRIBEFLOW_MODEL_HOST to load the models in each task",
    "run_host": "start `scribeflow runs serve` in this environment (it listens on "
                "$SCRIBEFLOW_RUN_HOST), or unset SCRIBEFLOW_RUN_HOST",
}


def _airflow(env: Mapping[str, str]) -> Check:
    from scribeflow.hosts.airflow_home import airflow_env

    merged = airflow_env() | dict(env)
    home = merged["AIRFLOW_HOME"]
    database = masked(merged["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
    return Check("airflow", True, f"home {home}, metadata database {database}, executor "
                 f"{merged['AIRFLOW__CORE__EXECUTOR']}")


def _run_host(env: Mapping[str, str]) -> Check:
    """The run host ``scribeflow run`` sends its runs to: answering, and willing to take a
    run from this environment (else each run starts a runner process of its own)."""
    from scribeflow.hosts.airflow_home import airflow_env
    from scribeflow.hosts.run_host import RunHostUnavailable, host_status

    address = DeploymentSettings.from_env(env).run_host
    slower = "each run starts a runner process of its own and imports Airflow again (slower)"
    try:
        status = host_status(address, airflow_env() | dict(env))
    except RunHostUnavailable as exc:
        return Check("run_host", False, f"{exc}: {slower}", _FIXES["run_host"])
    if status["differs"]:
        return Check("run_host", False, f"the run host at {address} (process {status['pid']}) "
                     f"refuses runs from here ({', '.join(status['differs'])} not as its own): "
                     f"{slower}", "restart `scribeflow runs serve` in this environment")
    return Check("run_host", True, f"{address}: process {status['pid']} with Airflow imported, "
                 f"{status['running']} running")


def _data(settings: PipelineSettings) -> Check:
    if settings.data_url:
        from scribeflow.core.objects import open_storage

        open_bucket(settings)
        videos = len(open_storage(settings.data_url).folders("videos"))
        return Check("data", True, f"{settings.data_url} ({videos} videos), working folder "
                                   f"{settings.data_dir}")
    root = settings.data_dir
    probe = root if root.exists() else next(p for p in root.parents if p.exists())
    if not os.access(probe, os.W_OK):
        return Check("data", False, f"{root} is not writable",
                     "set SCRIBEFLOW_DATA to a folder this user may write")
    videos = len(list((root / "videos").glob("*/metadata.json"))) if root.exists() else 0
    return Check("data", True, f"{root} ({videos} videos)")


def _whisper(settings: PipelineSettings) -> Check:
    from scribeflow.core.errors import ConfigError
    from scribeflow.speech.models import resolve_whisper_model, whisper_model_label
    from scribeflow.speech.whisper import resolve_device

    device = resolve_device(settings.whisper_device)
    also = ""
    try:
        model = resolve_whisper_model(settings.whisper_model, device, settings.language)
        if settings.whisper_model == "auto" and settings.language != "en" and device == "cpu":
            english = resolve_whisper_model("auto", device, "en")  # what runs in English get
            also = f" (bundled {whisper_model_label(english)} for language en)"
    except ConfigError as exc:  # a bundled model's package is missing or damaged
        return Check("whisper", False, str(exc), _FIXES["whisper"])
    if Path(model).is_absolute() or model.startswith("."):
        if not (Path(model) / "model.bin").is_file():
            return Check("whisper", False, f"{model} holds no CTranslate2 model (model.bin)",
                         _FIXES["whisper"])
        label = whisper_model_label(model)
        where = f"bundled {label}" if label != model else model
    else:
        where = f"{model} (faster-whisper downloads it on first use)"
    return Check("whisper", True, f"{where} on {device}{also}")


def _embedding(settings: PipelineSettings) -> Check:
    from scribeflow.index.embedding import model_label, resolve_model

    path = resolve_model(settings.embed_model)
    if Path(path).is_absolute() and not (Path(path) / "config.json").is_file():
        return Check("embedding", False, f"{path} holds no sentence-transformers model",
                     _FIXES["embedding"])
    return Check("embedding", True, f"{model_label(settings.embed_model)} ({path})")


def _model_host(settings: PipelineSettings) -> Check:
    """The model host this host's tasks send their models' work to: answering."""
    from scribeflow.hosts.model_client import ModelHostClient

    try:
        status = ModelHostClient(settings.model_host).status()
    except ScribeflowError as exc:
        return Check("model_host", False, str(exc), _FIXES["model_host"])
    held = ", ".join(status["models"]) or "no model loaded yet"
    return Check("model_host", True, f"{settings.model_host}: {held}; {status['requests']} "
                 f"requests, loads {status['loads'] or 'none'}")


def _llm(env: Mapping[str, str]) -> Check:
    settings, source = llm_settings_from_env(env)
    if not settings.configured:
        return Check("llm", True, f"not configured ({source}): documents keep the raw "
                     "transcript text, with no chapters, quiz or quality score")
    from openai import OpenAI

    endpoint = settings.base_url or "https://api.openai.com/v1"
    key = "***" if settings.api_key else "none"
    client = OpenAI(base_url=settings.base_url, api_key=settings.api_key or "unused",
                    timeout=10, max_retries=0)
    try:
        listed = {m.id for m in client.models.list()}
    except Exception as exc:  # noqa: BLE001 - unreachable, refused, not an OpenAI API
        return Check("llm", False, f"{endpoint} (key {key}) not reachable: {describe(exc)}",
                     "start the endpoint, or correct its URL and key")
    missing = [m for m in (settings.model, settings.fallback_model) if m and m not in listed]
    if missing and listed:
        return Check("llm", False, f"{endpoint} does not serve {', '.join(missing)} (it serves "
                     f"{', '.join(sorted(listed)[:5])})", "set OPENAI_MODEL to a served model")
    return Check("llm", True, f"{endpoint} (key {key}), model {settings.model}"
                 + (f", fallback {settings.fallback_model}" if settings.fallback_model else "")
                 + f" ({source})")


def _transcription(env: Mapping[str, str]) -> Check:
    """The transcription endpoint (``transcriber=endpoint``): configured, and answering."""
    import openai

    settings, source = transcription_settings_from_env(env)
    if not settings.configured:
        return Check("transcribe", False, f"transcriber=endpoint, but no endpoint ({source})",
                     _FIXES["transcribe"])
    key = "***" if settings.api_key else "none"
    client = openai.OpenAI(base_url=settings.base_url, api_key=settings.api_key or "unused",
                           timeout=10, max_retries=0)
    where = f"{settings.endpoint} (key {key}), model {settings.model}"
    try:
        client.models.list()
    except openai.APIStatusError as exc:
        if exc.status_code in (401, 403):
            return Check("transcribe", False, f"{where} refused the key ({exc.status_code})",
                         "correct the openai_transcription connection's password")
        # a transcription server need not list its models: it answered
    except Exception as exc:  # noqa: BLE001 - unreachable, not an HTTP server
        return Check("transcribe", False, f"{where} not reachable: {describe(exc)}",
                     "start the endpoint, or correct its URL")
    return Check("transcribe", True, f"{where}, pieces of at most {settings.max_upload_mb:g} "
                 f"MB ({source})")


def _store(settings: PipelineSettings) -> Check:
    if settings.store == "parquet":
        from scribeflow.core.files import DataPaths

        path = DataPaths(settings.data_dir).parquet_store
        return Check("store", True, f"parquet at {path}")
    import psycopg

    dsn = connections.pgvector_dsn(find_connection(connections.PGVECTOR_CONN_ID, os.environ),
                                   DeploymentSettings.from_env().pgvector_dsn)
    if not dsn:
        return Check("store", False, "pgvector chosen but no database given",
                     "set the scribeflow_pgvector connection or SCRIBEFLOW_PGVECTOR_DSN")
    try:
        with psycopg.connect(dsn, connect_timeout=5) as conn:
            version = conn.execute("SELECT default_version FROM pg_available_extensions "
                                   "WHERE name = 'vector'").fetchone()
    except psycopg.Error as exc:
        return Check("store", False, f"pgvector at {masked(dsn)} not reachable: "
                     f"{describe(exc)}", _FIXES["store"])
    if version is None:
        return Check("store", False, f"{masked(dsn)} has no pgvector extension",
                     "use a PostgreSQL with pgvector (the compose file's pgvector image)")
    return Check("store", True, f"pgvector {version[0]} at {masked(dsn)}")


def report(env: Mapping[str, str] = os.environ) -> tuple[str, bool]:
    """The report's text and whether everything is fine."""
    found = list(checks(env))
    return "\n".join(c.line() for c in found), all(c.ok for c in found)


def open_bucket(settings: PipelineSettings) -> None:
    """With the data on object storage: open it with the credentials of the connection
    ``$SCRIBEFLOW_DATA_CONN_ID`` (``scribeflow_data``), as tasks do, else the provider's
    environment; and reach it once, so a wrong bucket, key or endpoint is one line before
    anything runs."""
    if not settings.data_url:
        return
    from scribeflow.core.objects import open_storage, storage_options_from_connection

    named = DeploymentSettings.from_env().data_conn_id
    conn_id = named or "scribeflow_data"
    conn = find_connection(conn_id, os.environ)
    if conn is None and named:
        raise ScribeflowError(f"object storage connection {conn_id!r} (SCRIBEFLOW_DATA_CONN_ID) "
                              "not found")
    options = storage_options_from_connection({
        "login": conn.login, "password": conn.password, "host": conn.host,
        "extra": conn.extra}) if conn else None
    open_storage(settings.data_url, options).check()
