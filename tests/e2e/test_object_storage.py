"""Bad input with the data folder on object storage (a real S3-compatible server on
127.0.0.1): a one-line cause, the secret never printed, and nothing stored."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from e2e.conftest import SCRIBEFLOW

from scribeflow.cli.launcher import run_video
from scribeflow.core.files import DataPaths
from scribeflow.core.objects import open_storage
from scribeflow.hosts.airflow_home import airflow_env
from support.airflow import clean_env
from support.http import free_port

pytestmark = pytest.mark.e2e


def _connection(s3, **changes) -> str:
    conn = json.loads(s3.connection())
    for key, value in changes.items():
        if key == "endpoint_url":
            conn["extra"]["endpoint_url"] = value
        else:
            conn[key] = value
    return json.dumps(conn)


@pytest.mark.parametrize("case", ["missing-bucket", "wrong-secret", "unreachable"])
def test_scribeflow_run_refuses_a_bucket_it_cannot_use_in_one_line(case, s3, media,
                                                                    airflow_home, tmp_path):
    bucket = "no-such-bucket" if case == "missing-bucket" else s3.new_bucket()
    secret = "Wr0ngSecretThatMustNotShow"
    conn = {"missing-bucket": _connection(s3),
            "wrong-secret": _connection(s3, password=secret),
            "unreachable": _connection(s3, endpoint_url=f"http://127.0.0.1:{free_port()}")}[case]
    env = clean_env(AIRFLOW_HOME=str(airflow_home),
                    AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{airflow_home}/airflow.db",
                    SCRIBEFLOW_DATA=f"s3://{bucket}/data", SCRIBEFLOW_STORE="pgvector",
                    SCRIBEFLOW_WORKDIR=str(tmp_path / "host"), AIRFLOW_CONN_SCRIBEFLOW_DATA=conn,
                    SCRIBEFLOW_LANGUAGE="en")
    proc = subprocess.run([SCRIBEFLOW, "run", media.url("talk.mp4")], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    cause = proc.stderr.strip()
    assert cause.count("\n") == 0 and cause.startswith("error: "), cause
    assert {"missing-bucket": "bucket 'no-such-bucket' does not exist at ",
            "wrong-secret": f"refused the credentials for s3://{bucket}/data (access key "
                            f"{s3.key})",
            "unreachable": "cannot reach object storage at http://127.0.0.1:"}[case] in cause
    assert secret not in proc.stdout + proc.stderr and s3.secret not in proc.stdout + proc.stderr
    if case != "missing-bucket":
        assert s3.keys(bucket) == []
    assert not (tmp_path / "host").exists() or not any((tmp_path / "host").rglob("*.json"))


def test_a_run_on_object_storage_fails_at_once_without_the_credentials_or_with_parquet(
        s3, media, airflow_home, tmp_path):
    """Past the CLI's own check, in the DAG's tasks: refused credentials fail the download
    with one line in the task log (no secret, no traceback); asking for the Parquet store,
    whose lock holds on one host only, fails it with the cause in the run's summary, in the
    bucket."""
    bucket = s3.new_bucket()
    secret = "An0therWrongSecret"
    base = airflow_env() | clean_env(AIRFLOW_HOME=str(airflow_home),
                                 AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{airflow_home}/airflow.db",
                                 SCRIBEFLOW_DATA=f"s3://{bucket}/data",
                                 SCRIBEFLOW_WORKDIR=str(tmp_path / "host"),
                                 SCRIBEFLOW_LANGUAGE="en")
    data = DataPaths(tmp_path / "host")
    open_storage(f"s3://{bucket}/data", {  # this process reads the summary as the CLI does
        "key": s3.key, "secret": s3.secret, "client_kwargs": {"endpoint_url": s3.endpoint}})
    refused = run_video({"url": media.url("talk.mp4"), "store": "pgvector"},
                        base | {"AIRFLOW_CONN_SCRIBEFLOW_DATA": _connection(s3, password=secret)},
                        data, log_file=tmp_path / "refused.log")
    log = (tmp_path / "refused.log").read_text()
    assert refused.state == "failed", log[-2000:]
    errors = [line for line in log.split("::endgroup::", 1)[1].splitlines() if "[error" in line]
    assert re.search(r"download failed: .*refused the credentials for s3://", errors[0]), errors
    assert secret not in log and "Traceback" not in log
    assert s3.keys(bucket) == []

    parquet = run_video({"url": media.url("talk.mp4"), "store": "parquet"},
                        base | {"AIRFLOW_CONN_SCRIBEFLOW_DATA": s3.connection()}, data,
                        log_file=tmp_path / "parquet.log")
    assert parquet.state == "failed"
    assert parquet.summary.error["step"] == "download"
    assert parquet.summary.error["cause"].startswith(
        "the Parquet store is a folder on one host and its writer lock holds on that host "
        f"only: with SCRIBEFLOW_DATA=s3://{bucket}/data use store=pgvector")
    assert str(parquet.summary_path).startswith(f"s3://{bucket}/data/runs/")
    assert [k for k in s3.keys(bucket) if not k.startswith("data/runs/")] == []
    assert [p for p in (tmp_path / "host").rglob("*") if p.is_file()] == []


def test_scribeflow_doctor_names_the_bucket_problem(s3, tmp_path):
    env = clean_env(SCRIBEFLOW_DATA="s3://no-such-bucket/data",
                    SCRIBEFLOW_WORKDIR=str(tmp_path / "host"),
                    AIRFLOW_CONN_SCRIBEFLOW_DATA=_connection(s3))
    proc = subprocess.run([sys.executable, "-m", "scribeflow.cli.main", "doctor"], env=env,
                          capture_output=True, text=True, timeout=300)
    line = next(x for x in proc.stdout.splitlines() if "data" in x and "bucket" in x)
    assert "bucket 'no-such-bucket' does not exist" in line, proc.stdout
    assert proc.returncode != 0


def test_a_fresh_airflow_home_with_the_data_on_object_storage_runs(s3, media, pgvector_dsn,
                                                                     tmp_path):
    """A new AIRFLOW_HOME: doctor leaves no database file behind; the first run migrates the
    metadata database (decided by its schema: the bucket's connection is looked up before
    it) and ends with its one-line result; so does the next, and Parquet is refused in one
    line."""
    home = tmp_path / "new-home"
    bucket = s3.new_bucket()
    env = clean_env(AIRFLOW_HOME=str(home), SCRIBEFLOW_DATA=f"s3://{bucket}/data",
                    SCRIBEFLOW_WORKDIR=str(tmp_path / "host"), SCRIBEFLOW_STORE="pgvector",
                    SCRIBEFLOW_PGVECTOR_DSN=pgvector_dsn, SCRIBEFLOW_LANGUAGE="en")
    env.pop("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", None)
    env.pop("AIRFLOW_CONN_SCRIBEFLOW_DATA", None)
    doctor = subprocess.run([sys.executable, "-m", "scribeflow.cli.main", "doctor"], env=env,
                            capture_output=True, text=True, timeout=300)
    assert "Traceback" not in doctor.stdout + doctor.stderr
    assert not (home / "airflow.db").exists(), "doctor created an empty metadata database"
    env["AIRFLOW_CONN_SCRIBEFLOW_DATA"] = s3.connection()
    for attempt in ("first", "again"):
        run = subprocess.run([SCRIBEFLOW, "run", "--force", media.url("talk.mp4")], env=env,
                             capture_output=True, text=True, timeout=600)
        out = run.stdout + run.stderr
        assert run.returncode == 0, f"{attempt}: {out[-3000:]}"
        assert "Traceback" not in out and re.search(r"status:\s+success", out), out[-2000:]
    assert any(k.startswith("data/videos/") for k in s3.keys(bucket))
    env["SCRIBEFLOW_STORE"] = "parquet"
    refused = subprocess.run([SCRIBEFLOW, "run", "--force", media.url("talk.mp4")], env=env,
                             capture_output=True, text=True, timeout=600)
    assert refused.returncode == 1 and "Traceback" not in refused.stdout + refused.stderr
    assert ("the Parquet store is a folder on one host and its writer lock holds on that "
            "host only") in refused.stdout
