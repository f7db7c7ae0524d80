"""Connections: the LLM endpoint, the pgvector database, cookies, object storage."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowNotFoundException

from scribeflow.core import connections
from scribeflow.core.endpoints import (
    LLMSettings,
    TranscriptionSettings,
    llm_settings_from_connection,
    transcription_settings_from_connection,
)
from scribeflow.core.errors import ConfigError

if TYPE_CHECKING:
    from scribeflow.core.config import PipelineSettings
    from scribeflow.core.objects import ObjectStorage


class LLMHook(BaseHook):
    """Settings for an OpenAI-compatible endpoint from the ``openai_default`` connection.

    Connection fields: host = base URL (``http://vllm:8000/v1``; empty for OpenAI),
    password = API key, extra = ``{"model": ..., "fallback_model": ..., "concurrency": N}``.
    Without the connection, the standard ``OPENAI_*`` environment variables are used.
    """

    conn_name_attr = "llm_conn_id"
    default_conn_name = connections.LLM_CONN_ID
    conn_type = "openai"
    hook_name = "Scribeflow LLM"

    def __init__(self, llm_conn_id: str = default_conn_name, **kwargs: Any):
        super().__init__(**kwargs)
        self.llm_conn_id = llm_conn_id

    def get_settings(self) -> LLMSettings:
        try:
            conn = self.get_connection(self.llm_conn_id)
        except AirflowNotFoundException:
            return LLMSettings.from_env()
        return llm_settings_from_connection(conn.host, conn.password, conn.extra_dejson or {},
                                            conn.schema, conn.port)


def _named_connection(variable: str, default_id: str, label: str) -> Any | None:
    """The connection ``$variable`` names, else ``default_id``; None when the default is
    missing (the caller falls back to the environment). One that ``$variable`` names must
    exist: its absence is a one-line error."""
    named = os.environ.get(variable)
    try:
        return BaseHook.get_connection(named or default_id)
    except AirflowNotFoundException:
        if named:
            raise ConfigError(f"{label} {named!r} ({variable}) not found") from None
        return None


TRANSCRIPTION_CONN_ID = connections.TRANSCRIPTION_CONN_ID


def transcription_settings() -> TranscriptionSettings:
    """The transcription endpoint from the connection ``$SCRIBEFLOW_TRANSCRIPTION_CONN_ID``
    (default ``openai_transcription``): host = base URL (empty for OpenAI), password = API
    key, extra = ``{"model": "whisper-1", "max_upload_mb": 25, "concurrency": 4}``. Without
    it, ``SCRIBEFLOW_TRANSCRIPTION_*`` and ``OPENAI_API_KEY``."""
    conn = _named_connection("SCRIBEFLOW_TRANSCRIPTION_CONN_ID", TRANSCRIPTION_CONN_ID,
                             "transcription connection")
    if conn is None:
        return TranscriptionSettings.from_env()
    return transcription_settings_from_connection(conn.host, conn.password,
                                                  conn.extra_dejson or {}, conn.schema, conn.port)


PGVECTOR_CONN_ID = connections.PGVECTOR_CONN_ID


def pgvector_dsn(conn_id: str = PGVECTOR_CONN_ID) -> str | None:
    """The pgvector database's URI from the ``scribeflow_pgvector`` connection, else
    ``SCRIBEFLOW_PGVECTOR_DSN``; ``None`` when neither is set (one DSN builder:
    :func:`scribeflow.core.connections.pgvector_dsn`)."""
    from scribeflow.core.config import DeploymentSettings

    try:
        found = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        found = None
    conn = None if found is None else connections.Connection(
        conn_type=found.conn_type, host=found.host, schema=found.schema, login=found.login,
        password=found.password, port=found.port, extra=found.extra_dejson or {},
        origin=f"connection {conn_id}")
    return connections.pgvector_dsn(conn, DeploymentSettings.from_env().pgvector_dsn)


def cookies_text(conn_id: str | None) -> str | None:
    """The Netscape cookies file kept in connection ``conn_id`` (its password, or its extra's
    ``cookies``). Airflow masks connection passwords in task logs."""
    if not conn_id:
        return None
    try:
        conn = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        raise ConfigError(f"cookies connection {conn_id!r} not found") from None
    text = conn.password or (conn.extra_dejson or {}).get("cookies")
    if not text:
        raise ConfigError(f"connection {conn_id!r} holds no cookies: put the cookies file "
                          "in its password")
    return text


DATA_CONN_ID = "scribeflow_data"


def open_data_storage(settings: PipelineSettings) -> ObjectStorage | None:
    """The data folder on object storage (None for a local one), with the credentials of
    the connection ``$SCRIBEFLOW_DATA_CONN_ID`` (default ``scribeflow_data``: an AWS
    connection, the key id in login, the secret in password, ``endpoint_url`` and
    ``region_name`` in extra), else the provider's usual environment (``AWS_*``)."""
    from scribeflow.core.objects import open_storage, storage_options_from_connection

    if not settings.data_url:
        return None
    conn = _named_connection("SCRIBEFLOW_DATA_CONN_ID", DATA_CONN_ID,
                             "object storage connection")
    if conn is None:
        return open_storage(settings.data_url)
    return open_storage(settings.data_url, storage_options_from_connection({
        "login": conn.login, "password": conn.password, "host": conn.host,
        "extra": conn.extra_dejson or {}}))
