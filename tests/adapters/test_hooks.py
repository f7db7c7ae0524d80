"""The LLM connection hook: connection first (AIRFLOW_CONN_* as Airflow reads it), env second."""

from __future__ import annotations

import json

import pytest


@pytest.fixture(autouse=True)
def airflow_home(tmp_path, monkeypatch):
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    for key in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "OPENAI_MODEL"):
        monkeypatch.delenv(key, raising=False)


def test_settings_from_connection(monkeypatch):
    from scribeflow_airflow.hooks import LLMHook

    monkeypatch.setenv("AIRFLOW_CONN_OPENAI_DEFAULT", json.dumps({
        "conn_type": "openai", "host": "http://127.0.0.1:9/v1", "password": "sk-test-secret",
        "extra": {"model": "m1", "fallback_model": "m2", "concurrency": 3},
    }))
    settings = LLMHook().get_settings()
    assert settings.base_url == "http://127.0.0.1:9/v1" and settings.api_key == "sk-test-secret"
    assert (settings.model, settings.fallback_model, settings.concurrency) == ("m1", "m2", 3)
    assert settings.configured and "sk-test-secret" not in repr(settings)


def test_host_without_scheme_gets_one(monkeypatch):
    from scribeflow_airflow.hooks import LLMHook

    monkeypatch.setenv("AIRFLOW_CONN_LOCAL_LLM", json.dumps({
        "conn_type": "openai", "host": "127.0.0.1", "port": 11434, "schema": "http",
        "extra": {"model": "llama"}}))
    assert LLMHook("local_llm").get_settings().base_url == "http://127.0.0.1:11434"


def test_without_connection_env_is_used(monkeypatch):
    from scribeflow_airflow.hooks import LLMHook

    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:8/v1")
    monkeypatch.setenv("OPENAI_MODEL", "env-model")
    settings = LLMHook("no_such_connection").get_settings()
    assert (settings.base_url, settings.model) == ("http://127.0.0.1:8/v1", "env-model")


def test_pgvector_dsn_from_connection_then_env(monkeypatch):
    from scribeflow_airflow.hooks import pgvector_dsn

    monkeypatch.delenv("SCRIBEFLOW_PGVECTOR_DSN", raising=False)
    assert pgvector_dsn() is None
    monkeypatch.setenv("SCRIBEFLOW_PGVECTOR_DSN", "postgresql://env@127.0.0.1/db")
    assert pgvector_dsn() == "postgresql://env@127.0.0.1/db"
    monkeypatch.setenv("AIRFLOW_CONN_SCRIBEFLOW_PGVECTOR",
                       "postgres://scribe:pw@db.internal:5433/vectors")
    assert pgvector_dsn() == "postgresql://scribe:pw@db.internal:5433/vectors"
