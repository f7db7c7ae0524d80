"""The pgvector store through the whole DAG, search on it, and rebuilding stores from files."""

from __future__ import annotations

import json
import subprocess

import polars as pl
import psycopg
import pytest
from e2e.conftest import SCRIBEFLOW, clean_env

from scribeflow.core.files import DataPaths
from scribeflow.index.store.parquet import ParquetStore
from scribeflow.index.store.pgvector import PgvectorStore

pytestmark = pytest.mark.e2e
WARM_HOSTS = True  # its runs go to the session's model host and run host
VIDEO_ID = "generic-talk"


def scribeflow(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([SCRIBEFLOW, *args], env=clean_env(**env), capture_output=True,
                          text=True, timeout=300)


def ids(dsn: str) -> list[str]:
    with psycopg.connect(dsn) as conn:
        return [r[0] for r in conn.execute("SELECT id FROM scribeflow_chunks ORDER BY id")]


def test_pgvector_run_search_and_reindex(media, run_pipeline, pgvector_dsn, tmp_path):
    data = DataPaths(tmp_path / "data")
    outcome = run_pipeline(media.url("talk.mp4"), data.root, "--store", "pgvector",
                           "--chunk-words", "40", env={"SCRIBEFLOW_PGVECTOR_DSN": pgvector_dsn})
    assert outcome.code == 0, outcome.output
    assert outcome.line("store").startswith("pgvector (")
    assert pgvector_dsn not in outcome.output
    stored = ids(pgvector_dsn)
    assert len(stored) == PgvectorStore(pgvector_dsn).count(VIDEO_ID) > 0
    assert not data.parquet_store.exists()

    env = {"SCRIBEFLOW_DATA": str(data.root), "SCRIBEFLOW_PGVECTOR_DSN": pgvector_dsn}
    found = scribeflow("search", "melted rock erupts from the mountain", "--store", "pgvector",
                       "--json", "-k", "2", **env)
    assert found.returncode == 0, found.stderr
    assert "magma" in json.loads(found.stdout)[0]["text"].lower()

    # the database is lost: reindex rebuilds it from the files, with the same ids
    with psycopg.connect(pgvector_dsn, autocommit=True) as conn:
        conn.execute("DROP TABLE scribeflow_chunks; DROP TABLE scribeflow_store")
    rebuilt = scribeflow("reindex", "--store", "pgvector", **env)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert f"{VIDEO_ID}: {len(stored)} rows (replaced 0)" in rebuilt.stdout
    assert ids(pgvector_dsn) == stored

    # the same files also build the Parquet store, and again adds nothing
    for _ in range(2):
        assert scribeflow("reindex", "--store", "parquet", **env).returncode == 0
    frame = pl.read_parquet(data.parquet_store / "*.parquet")
    assert sorted(frame["id"].to_list()) == stored
    assert ParquetStore(data.parquet_store).count() == len(stored)


def test_search_bad_input_from_the_command_line(tmp_path):
    env = {"SCRIBEFLOW_DATA": str(tmp_path),
           "SCRIBEFLOW_PGVECTOR_DSN": "postgresql://scribe:hunter2-pw@127.0.0.1:1/vectors"}
    unreachable = scribeflow("search", "volcanoes", "--store", "pgvector", **env)
    assert unreachable.returncode == 2
    assert unreachable.stderr.startswith("error: cannot reach PostgreSQL at 127.0.0.1:1/vectors")
    assert "Traceback" not in unreachable.stderr and "hunter2-pw" not in unreachable.stderr
    quoted = scribeflow("search", "volcanoes", "--channel", "x' OR 1=1 --", "--json", **env)
    assert quoted.returncode == 0 and json.loads(quoted.stdout) == []
    bad_date = scribeflow("search", "volcanoes", "--from", "last week", **env)
    assert bad_date.returncode == 2
    assert bad_date.stderr.strip() == ("error: filter date_from must be a date as YYYY-MM-DD, "
                                       "not 'last week'")
    assert scribeflow("reindex", **env).stdout.startswith("no processed videos under ")
