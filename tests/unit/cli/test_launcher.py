"""The hosts a command starts for its own runs: a model host that serves them, and one that
cannot start is one warning line (the runs then load their own models)."""

from __future__ import annotations

from pathlib import Path

from scribeflow.cli.launcher import own_model_host
from support.airflow import clean_env


def test_an_own_model_host_serves_and_stops_and_one_that_cannot_start_is_one_line(capsys):
    from scribeflow.hosts.model_host import ModelHostClient

    env = clean_env()
    with own_model_host(env) as hosted:
        socket = Path(hosted["SCRIBEFLOW_MODEL_HOST"])
        assert socket.exists()
        assert ModelHostClient(str(socket)).status()["loads"] == {}  # nothing loaded yet
    assert not socket.exists() and not socket.parent.exists()
    with own_model_host(env | {"SCRIBEFLOW_MODEL_HOST_MAX_MODELS": "0"}) as unhosted:
        assert "SCRIBEFLOW_MODEL_HOST" not in unhosted
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["warning: the models host did not start (error: max_models must be at "
                   "least 1, not 0): each run loads its own models"]
    configured = env | {"SCRIBEFLOW_MODEL_HOST": "/run/elsewhere.sock"}
    with own_model_host(configured) as kept:
        assert kept == configured
