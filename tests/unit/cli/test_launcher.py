"""The hosts a command starts for its own runs: a model host and a run host that serve them,
and a model host that cannot start is one warning line (the runs then load their own
models); the DAG written once before runs start at once, or one line when it cannot be."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from scribeflow.cli.launcher import own_hosts, prepare_dag
from scribeflow.core.errors import ScribeflowError
from support.airflow import clean_env, service_env


def test_own_hosts_serve_and_stop_and_a_model_host_that_cannot_start_is_one_line(capsys):
    from scribeflow.hosts.model_client import ModelHostClient
    from scribeflow.hosts.run_host import host_status

    # a run host configured already is used as it is: only the model host starts here
    env = clean_env(SCRIBEFLOW_RUN_HOST="/run/runs.sock")
    meanwhile = []
    with own_hosts(env, lambda: meanwhile.append(1)) as hosted:
        socket = Path(hosted["SCRIBEFLOW_MODEL_HOST"])
        assert socket.exists() and meanwhile == [1]
        assert ModelHostClient(str(socket)).status()["loads"] == {}  # nothing loaded yet
        assert hosted["SCRIBEFLOW_RUN_HOST"] == "/run/runs.sock"
    assert not socket.exists() and not socket.parent.exists()
    with own_hosts(env | {"SCRIBEFLOW_MODEL_HOST_MAX_MODELS": "0"}) as unhosted:
        assert "SCRIBEFLOW_MODEL_HOST" not in unhosted
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["warning: the models host did not start (error: max_models must be at "
                   "least 1, not 0): each run loads its own models"]
    configured = clean_env(SCRIBEFLOW_MODEL_HOST="/run/elsewhere.sock")
    with own_hosts(configured) as kept:  # the run host starts
        assert kept["SCRIBEFLOW_MODEL_HOST"] == "/run/elsewhere.sock"
        assert host_status(kept["SCRIBEFLOW_RUN_HOST"], configured)["differs"] == []
    assert not Path(kept["SCRIBEFLOW_RUN_HOST"]).exists()


def test_a_dag_that_cannot_be_written_before_the_runs_is_one_line(tmp_path):
    """The ingest writes its DAG once before its runs start at once; a DAG that is not there
    is one line naming the log, and nothing runs."""
    env = service_env(tmp_path / "home", api_port=8793, executor="LocalExecutor",
                      database=f"sqlite:///{tmp_path}/airflow.db")
    log = tmp_path / "setup.log"
    with pytest.raises(ScribeflowError) as failed:
        prepare_dag("no_such_dag", env, log)
    assert str(failed.value) == (f"the DAG no_such_dag could not be written to the metadata "
                                 f"database (see {log})")
    assert "no_such_dag" in log.read_text()
    prepare_dag("video_pipeline", env, log)  # and the real one is written
    with sqlite3.connect(tmp_path / "airflow.db") as db:
        assert db.execute("SELECT dag_id FROM dag WHERE dag_id = 'video_pipeline'").fetchall()
