"""Connections from ``AIRFLOW_CONN_<ID>`` read without Airflow (``scribeflow.core.connections``),
checked against Airflow's own parser: whatever form the tasks accept, the CLI and doctor read
the same fields."""

from __future__ import annotations

import json

import pytest

from scribeflow.core.connections import Connection, from_env
from scribeflow.core.errors import ConfigError

URIS = [
    # the host URL-encoded, as Airflow's docs write an endpoint with a path
    "openai://:sk-se%2Fcret@https%3A%2F%2Fapi.example.com%2Fv1?model=gpt-4o-mini",
    # a host with its own scheme, and no login
    "openai://http://Vllm.Internal:8000/v1?model=qwen&fallback_model=small",
    "aws://AKIA123:se%2Fcr%3Aet@/?endpoint_url=http%3A%2F%2F127.0.0.1%3A9000&region_name=eu-west-1",
    "postgresql://scribe:p%40ss@DB.example.com:5433/library?sslmode=require",
    "my-type://host?flag=true&n=3&list=%5B1%2C2%5D&empty=&text=plain",
    "openai://:key@api.example.com:8443/v1?__extra__=%7B%22model%22%3A+%22m%22%2C+%22n%22%3A+2%7D",
    "generic://",
]


def _as_airflow_reads_it(conn) -> Connection:
    return Connection(conn_type=conn.conn_type, host=conn.host, schema=conn.schema,
                      login=conn.login, password=conn.password, port=conn.port,
                      extra=conn.extra_dejson, origin="AIRFLOW_CONN_X")


@pytest.mark.parametrize("uri", URIS)
def test_a_uri_reads_as_airflow_reads_it(uri):
    from airflow.models.connection import Connection as AirflowConnection

    ours = from_env("x", {"AIRFLOW_CONN_X": uri})
    assert ours == _as_airflow_reads_it(AirflowConnection(conn_id="x", uri=uri))


def test_the_json_form_reads_as_airflow_reads_it():
    from airflow.models.connection import Connection as AirflowConnection

    given = {"conn_type": "postgresql", "host": "http://127.0.0.1:9/v1", "password": "sk-1",
             "login": None, "port": "8080", "schema": "v1"}
    for extra in ({"model": "m", "timeout_s": 30}, json.dumps({"model": "m"}), None):
        raw = json.dumps(given | ({"extra": extra} if extra is not None else {}))
        theirs = AirflowConnection.from_json(raw, conn_id="x")
        assert from_env("x", {"AIRFLOW_CONN_X": raw}) == _as_airflow_reads_it(theirs)


def test_no_variable_is_no_connection():
    assert from_env("x", {}) is None
    assert from_env("x", {"AIRFLOW_CONN_X": "  "}) is None
    assert from_env("x", {"AIRFLOW_CONN_Y": "openai://h"}) is None


@pytest.mark.parametrize(("raw", "cause"), [
    ("{broken", "not JSON"),
    ("[1, 2]", "not a URI"),  # Airflow reads JSON only from a value that opens with {
    ("{\"x\": 1} [2]", "not JSON"),
    ('{"host": "h", "extra": "{not json"}', "its extra is not JSON"),
    ('{"host": "h", "extra": "[1]"}', "its extra is not a JSON object"),
    ("just-a-host-name", "not a URI"),
    ("openai://h:notaport/v1", "its port is not a number"),
    ("openai://:key@https://api.example.com", "a host with a scheme of its own takes no login"),
    ('{"host": "h", "port": "80a"}', "its port is not a number"),
    ("openai://h?__extra__=%7Bnope", "its extra is not JSON"),
])
def test_a_broken_value_is_one_line_naming_the_variable(raw, cause):
    with pytest.raises(ConfigError) as caught:
        from_env("openai_default", {"AIRFLOW_CONN_OPENAI_DEFAULT": raw})
    message = str(caught.value)
    assert message.startswith(f"AIRFLOW_CONN_OPENAI_DEFAULT is not a connection ({cause}")
    assert "\n" not in message and raw not in message  # the value may hold a secret


def test_a_broken_storage_connection_is_named_before_the_bucket_is_reached(monkeypatch, tmp_path):
    """``scribeflow run`` opens the bucket first: a storage connection it cannot read is one
    line naming the variable, not a traceback, and nothing is reached with half of it."""
    from scribeflow.cli.doctor import open_bucket
    from scribeflow.core.config import PipelineSettings

    monkeypatch.setenv("SCRIBEFLOW_WORKDIR", str(tmp_path))
    settings = PipelineSettings.from_env({"data_dir": "s3://library/data"})
    assert settings.data_url == "s3://library/data"
    monkeypatch.setenv("AIRFLOW_CONN_SCRIBEFLOW_DATA", '{"login": "AKIA", "extra": "{oops"}')
    with pytest.raises(ConfigError, match=r"^AIRFLOW_CONN_SCRIBEFLOW_DATA is not a connection "
                                          r"\(its extra is not JSON\)"):
        open_bucket(settings)


@pytest.mark.parametrize("value", [
    "postgresql://scribe:p%40ss%2Fw@db.example:5433/vectors?sslmode=require",
    '{"conn_type": "postgres", "host": "db.example", "login": "scribe", "password": "p@ss/w", '
    '"port": 5433, "schema": "vectors", "extra": {"sslmode": "require"}}',
])
def test_every_reader_builds_one_dsn_from_the_pgvector_connection(monkeypatch, value):
    """The tasks' hook, the CLI (``scribeflow run``'s reuse lookup, the store) and doctor read
    the store's connection and write its DSN one way: the password percent-encoded, the
    extra's options kept, the connection winning over SCRIBEFLOW_PGVECTOR_DSN."""
    from airflow.models.connection import Connection as AirflowConnection

    from scribeflow.core.connections import pgvector_dsn
    from scribeflow.index.store import pgvector_dsn_from_env
    from scribeflow.pipeline.reuse import pgvector_dsn_from
    from scribeflow_airflow import hooks

    want = "postgresql://scribe:p%40ss%2Fw@db.example:5433/vectors?sslmode=require"
    env = {"AIRFLOW_CONN_SCRIBEFLOW_PGVECTOR": value,
           "SCRIBEFLOW_PGVECTOR_DSN": "postgresql://fallback/db"}
    assert pgvector_dsn_from_env(env) == want == pgvector_dsn_from(env)
    monkeypatch.setenv("AIRFLOW_CONN_SCRIBEFLOW_PGVECTOR", value)
    monkeypatch.setenv("SCRIBEFLOW_PGVECTOR_DSN", "postgresql://fallback/db")
    assert hooks.pgvector_dsn() == want  # through Airflow's own connection lookup
    airflow = AirflowConnection(conn_id="scribeflow_pgvector",
                                uri=want.replace("postgresql://", "postgres://"))
    assert from_env("x", {"AIRFLOW_CONN_X": airflow.get_uri()}).postgres_dsn() == want
    assert pgvector_dsn(None, "postgresql://fallback/db") == "postgresql://fallback/db"
    assert pgvector_dsn(None, "") is None
