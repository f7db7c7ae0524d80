"""Connection hook for the LLM endpoint."""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowNotFoundException

from scribeflow.config import LLMSettings, llm_settings_from_connection


class LLMHook(BaseHook):
    """Settings for an OpenAI-compatible endpoint from the ``openai_default`` connection.

    Connection fields: host = base URL (``http://vllm:8000/v1``; empty for OpenAI),
    password = API key, extra = ``{"model": ..., "fallback_model": ..., "concurrency": N}``.
    Without the connection, the standard ``OPENAI_*`` environment variables are used.
    """

    conn_name_attr = "llm_conn_id"
    default_conn_name = "openai_default"
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


PGVECTOR_CONN_ID = "scribeflow_pgvector"


def pgvector_dsn(conn_id: str = PGVECTOR_CONN_ID) -> str | None:
    """The pgvector database's URI from the ``scribeflow_pgvector`` connection, else
    ``SCRIBEFLOW_PGVECTOR_DSN``; ``None`` when neither is set."""
    from scribeflow.store import pgvector_dsn_from_env

    try:
        uri = BaseHook.get_connection(conn_id).get_uri()
    except AirflowNotFoundException:
        return pgvector_dsn_from_env()
    return "postgresql://" + uri.split("://", 1)[1] if "://" in uri else uri


def cookies_text(conn_id: str | None) -> str | None:
    """The Netscape cookies file kept in connection ``conn_id`` (its password, or its extra's
    ``cookies``). Airflow masks connection passwords in task logs."""
    from scribeflow.errors import ConfigError

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
