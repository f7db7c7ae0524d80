"""``scribeflow doctor`` against real endpoints: a local OpenAI-compatible server, the
pgserver PostgreSQL with pgvector and the machine's PostgreSQL 15 without it."""

from __future__ import annotations

import json

import pytest

from scribeflow.cli.main import main
from support.openai_server import EditorScript, ScriptedOpenAI

CLEARED = ("OPENAI_BASE_URL", "OPENAI_API_KEY", "OPENAI_MODEL", "SCRIBEFLOW_LLM_MODEL",
           "AIRFLOW_CONN_OPENAI_DEFAULT", "AIRFLOW_CONN_SCRIBEFLOW_PGVECTOR",
           "SCRIBEFLOW_PGVECTOR_DSN", "SCRIBEFLOW_STORE", "SCRIBEFLOW_TRANSCRIBER",
           "AIRFLOW_CONN_OPENAI_TRANSCRIPTION", "SCRIBEFLOW_TRANSCRIPTION_CONN_ID",
           "SCRIBEFLOW_TRANSCRIPTION_BASE_URL", "SCRIBEFLOW_TRANSCRIPTION_API_KEY",
           "SCRIBEFLOW_MODEL_HOST", "SCRIBEFLOW_RUN_HOST")


@pytest.fixture(scope="module")
def metadata_home(tmp_path_factory):
    """A migrated metadata database, where the UI keeps the connections it makes."""
    from scribeflow.hosts.airflow_home import airflow_env, ensure_metadata_db

    home = tmp_path_factory.mktemp("airflow_home")
    ensure_metadata_db(airflow_env() | {"AIRFLOW_HOME": str(home), "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN":
                                        f"sqlite:///{home}/airflow.db"}, home / "migrate.log")
    return home


@pytest.fixture
def doctor(monkeypatch, tmp_path, capsys, metadata_home):
    for name in CLEARED:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SCRIBEFLOW_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("AIRFLOW_HOME", str(metadata_home))
    monkeypatch.setenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{metadata_home}/airflow.db")

    def run(**env: str) -> tuple[int, dict[str, str]]:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        code = main(["doctor"])
        out = capsys.readouterr().out
        lines = {line.split(":", 1)[0].split()[-1]: line for line in out.splitlines()
                 if not line.startswith(" ")}
        return code, lines | {"": out}

    return run


def test_a_working_setup_is_all_ok(doctor, pgvector_dsn):
    with ScriptedOpenAI(EditorScript()) as server:
        connection = {"conn_type": "openai", "host": server.base_url, "password": "sk-hidden-1",
                      "extra": {"model": "primary-model", "fallback_model": "fallback-model"}}
        code, lines = doctor(AIRFLOW_CONN_OPENAI_DEFAULT=json.dumps(connection),
                             SCRIBEFLOW_STORE="pgvector", SCRIBEFLOW_PGVECTOR_DSN=pgvector_dsn)
    assert code == 0, lines[""]
    assert lines["llm"].startswith("ok") and "model primary-model, fallback fallback-model" in lines["llm"]
    assert lines["store"].startswith("ok      store:      pgvector 0.6")
    assert lines["whisper"].endswith("bundled base on cpu (bundled tiny.en for language en)")
    assert "all-MiniLM-L6-v2" in lines["embedding"]
    assert "sk-hidden-1" not in lines[""]


def test_each_problem_is_named_with_its_fix(doctor):
    with ScriptedOpenAI(EditorScript()) as server:
        code, lines = doctor(OPENAI_BASE_URL=server.base_url, OPENAI_API_KEY="sk-hidden-2",
                             OPENAI_MODEL="no-such-model", SCRIBEFLOW_STORE="pgvector",
                             SCRIBEFLOW_PGVECTOR_DSN="postgresql://root:pw-hidden@127.0.0.1:5432/postgres")
    assert code == 1
    assert lines["llm"].startswith("PROBLEM") and "does not serve no-such-model" in lines["llm"]
    assert "has no pgvector extension" in lines["store"]  # the machine's PostgreSQL 15
    assert lines[""].count("fix: ") == 2
    assert "sk-hidden-2" not in lines[""] and "pw-hidden" not in lines[""]
    assert "postgresql://root:***@127.0.0.1:5432/postgres" in lines["store"]


@pytest.mark.parametrize(("env", "name", "cause"), [
    ({"OPENAI_API_KEY": "sk-hidden-3"}, "llm", "LLM partly configured: an API key but no model"),
    ({"OPENAI_BASE_URL": "http://127.0.0.1:9/v1", "OPENAI_MODEL": "m"}, "llm", "not reachable"),
    ({"SCRIBEFLOW_STORE": "pgvector"}, "store", "pgvector chosen but no database given"),
    ({"SCRIBEFLOW_QUIZ": "ture"}, "settings", "SCRIBEFLOW_QUIZ='ture' is not true or false"),
    ({"SCRIBEFLOW_EMBED_MODEL": "/no/model"}, "embedding", None),
])
def test_bad_configuration(doctor, env, name, cause):
    code, lines = doctor(**env)
    assert code == 1 and lines[name].startswith("PROBLEM"), lines[""]
    if cause:
        assert cause in lines[name]
    assert "sk-hidden-3" not in lines[""]


def test_no_llm_is_reported_as_such(doctor):
    code, lines = doctor()
    assert code == 0 and "not configured (OPENAI_* variables)" in lines["llm"]


def test_a_connection_in_airflows_uri_form_is_read_as_the_tasks_read_it(doctor):
    """``AIRFLOW_CONN_OPENAI_DEFAULT`` as a URI, the endpoint URL-encoded in its host (the form
    Airflow's docs give): read, checked against the server; a broken one is one line."""
    from urllib.parse import quote

    with ScriptedOpenAI(EditorScript()) as server:
        endpoint = server.base_url
        uri = (f"openai://:sk-hidden-6@{quote(endpoint, safe='')}"
               "?model=primary-model&fallback_model=fallback-model")
        code, lines = doctor(AIRFLOW_CONN_OPENAI_DEFAULT=uri)
    assert code == 0, lines[""]
    assert lines["llm"].endswith(f"{endpoint} (key ***), model primary-model, fallback "
                                 "fallback-model (AIRFLOW_CONN_OPENAI_DEFAULT)")
    code, lines = doctor(AIRFLOW_CONN_OPENAI_DEFAULT="openai://:sk-hidden-6@h:port/v1")
    assert code == 1 and lines["llm"].startswith(
        "PROBLEM llm:        AIRFLOW_CONN_OPENAI_DEFAULT is not a connection (its port is not "
        "a number)")
    assert "sk-hidden-6" not in lines[""]


def test_connections_made_in_the_ui_are_the_ones_checked(doctor, metadata_home, pgvector_dsn):
    import sqlite3
    import subprocess
    import sys
    from pathlib import Path

    from scribeflow.hosts.airflow_home import airflow_env

    airflow = str(Path(sys.executable).with_name("airflow"))
    env = airflow_env() | {"AIRFLOW_HOME": str(metadata_home),
                           "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{metadata_home}/airflow.db"}
    made = metadata_home / "made-in-the-ui.json"
    with ScriptedOpenAI(EditorScript()) as server:
        # as the UI stores them (Airflow encrypts the secrets), in one command: each Airflow
        # command here takes 4-8 s to start
        made.write_text(json.dumps({
            "openai_default": {"conn_type": "openai", "host": server.base_url,
                               "password": "sk-hidden-4", "extra": '{"model": "main"}'},
            "scribeflow_pgvector": pgvector_dsn.replace("postgresql://", "postgres://"),
        }))
        subprocess.run([airflow, "connections", "import", str(made)], env=env, check=True,
                       capture_output=True)
        try:
            code, lines = doctor(SCRIBEFLOW_STORE="pgvector")
        finally:  # the other tests of this module share the database
            with sqlite3.connect(metadata_home / "airflow.db") as db:
                db.execute("DELETE FROM connection WHERE conn_id IN "
                           "('openai_default', 'scribeflow_pgvector')")
    assert code == 0, lines[""]
    assert lines["llm"].endswith("model main (connection openai_default)")
    assert lines["store"].startswith("ok      store:      pgvector 0.6")
    assert "sk-hidden-4" not in lines[""]


def test_a_transcription_endpoint_is_checked_when_runs_use_it(doctor):
    from support.speech_server import WhisperEndpoint

    code, lines = doctor(SCRIBEFLOW_TRANSCRIBER="endpoint")
    assert code == 1 and "transcriber=endpoint, but no endpoint" in lines["transcribe"]
    assert "whisper" not in lines  # the worker runs no model then
    with WhisperEndpoint(api_key="sk-right") as server:
        conn = {"conn_type": "openai", "host": server.base_url, "password": "sk-hidden-4",
                "extra": {"model": "whisper-1", "max_upload_mb": 10}}
        code, lines = doctor(AIRFLOW_CONN_OPENAI_TRANSCRIPTION=json.dumps(conn))
        assert lines["transcribe"].startswith("PROBLEM") and "refused the key (401)" in \
            lines["transcribe"]
        conn["password"] = "sk-right"
        code, lines = doctor(AIRFLOW_CONN_OPENAI_TRANSCRIPTION=json.dumps(conn))
        assert lines["transcribe"].startswith("ok") and "pieces of at most 10 MB" in \
            lines["transcribe"]
    assert "sk-hidden-4" not in lines[""] and "sk-right" not in lines[""]


def test_the_model_host_is_checked_when_tasks_use_it(doctor, tmp_path):
    import threading

    from scribeflow.hosts.model_host import ModelHost

    socket = tmp_path / "models.sock"
    code, lines = doctor(SCRIBEFLOW_MODEL_HOST=str(socket))
    assert code == 1 and lines["model_host"].startswith("PROBLEM")
    assert f"model host not running at {socket}" in lines["model_host"]
    assert "fix: start `scribeflow models serve` on this host" in lines[""]
    host = ModelHost(socket)
    ready = threading.Event()
    thread = threading.Thread(target=host.serve, kwargs={"ready": ready.set}, daemon=True)
    thread.start()
    assert ready.wait(30)
    try:
        code, lines = doctor(SCRIBEFLOW_MODEL_HOST=str(socket))
    finally:
        host.stop()
        thread.join(10)
    assert code == 0, lines[""]
    assert lines["model_host"].startswith("ok") and "no model loaded yet; 0 requests" in lines[
        "model_host"]


def test_a_run_host_that_is_not_there_is_a_problem_with_its_fix(doctor, tmp_path):
    """With ``SCRIBEFLOW_RUN_HOST`` set and nothing listening, runs still work, slower: the
    doctor says so. A host that answers is checked in ``tests/unit/hosts/test_run_host.py``."""
    code, lines = doctor()
    assert "run_host" not in lines
    socket = tmp_path / "runs.sock"
    code, lines = doctor(SCRIBEFLOW_RUN_HOST=str(socket))
    assert code == 1 and lines["run_host"].startswith(f"PROBLEM run_host:   no run host at {socket}")
    assert "each run starts a runner process of its own" in lines["run_host"]
    assert "fix: start `scribeflow runs serve` in this environment" in lines[""]


def test_the_metadata_database_is_judged_by_its_schema_not_by_its_file(metadata_home,
                                                                       tmp_path):
    """A migrated database is current; a missing one stays missing (doctor and the
    connection lookup leave no empty file behind); an empty or older one is migrated."""
    import shutil
    import sqlite3

    from scribeflow.cli.doctor import stored_connection
    from scribeflow.hosts.airflow_home import airflow_env, ensure_metadata_db, metadata_db_current

    assert metadata_db_current(f"sqlite:///{metadata_home}/airflow.db?timeout=30")
    missing = tmp_path / "new-home" / "airflow.db"
    assert not metadata_db_current(f"sqlite:///{missing}")
    env = {"AIRFLOW_HOME": str(missing.parent),
           "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{missing}"}
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        assert stored_connection("scribeflow_data") is None
    assert not missing.exists()
    empty = tmp_path / "empty.db"
    empty.touch()
    older = tmp_path / "older.db"
    shutil.copy(metadata_home / "airflow.db", older)
    with sqlite3.connect(older) as db:
        db.execute("UPDATE alembic_version SET version_num = '1d6611b6ab7c'")
    assert not metadata_db_current(f"sqlite:///{empty}")
    assert not metadata_db_current(f"sqlite:///{older}")
    ensure_metadata_db(airflow_env() | {"AIRFLOW_HOME": str(tmp_path),
                                        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{empty}"},
                       tmp_path / "migrate.log")
    assert metadata_db_current(f"sqlite:///{empty}")
