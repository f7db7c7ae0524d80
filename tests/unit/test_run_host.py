"""The run host's client side (``scribeflow.run_host``) and the CLI's fallback: a run the host
cannot take runs in a process of its own, with the cause in its log. The host itself is
exercised end to end in ``tests/e2e/test_model_host.py``."""

from __future__ import annotations

import io

import pytest

from scribeflow.cli import _run_on_host
from scribeflow.run_host import RunHostUnavailable, differences, run_on_host


def test_only_airflow_settings_must_match_the_hosts():
    host = {"AIRFLOW_HOME": "/h", "AIRFLOW__CORE__PARALLELISM": "4", "PYTHONPATH": "/p",
            "SCRIBEFLOW_DATA": "/a", "PATH": "/bin"}
    same = host | {"SCRIBEFLOW_DATA": "/b", "PATH": "/usr/bin", "AIRFLOW_CONN_X": "c"}
    assert differences(host, same) == []
    other = host | {"AIRFLOW__CORE__PARALLELISM": "3", "AIRFLOW__CORE__NEW": "x"}
    del other["PYTHONPATH"]
    assert differences(host, other) == ["AIRFLOW__CORE__NEW", "AIRFLOW__CORE__PARALLELISM",
                                        "PYTHONPATH"]


def test_a_missing_host_is_unavailable_with_its_address(tmp_path):
    with pytest.raises(RunHostUnavailable, match=f"no run host at {tmp_path}/runs.sock"):
        run_on_host(tmp_path / "runs.sock", ["--help"], {}, 1)


def test_the_cli_runs_in_a_process_of_its_own_when_the_host_is_not_there(tmp_path):
    log = io.StringIO()
    log.fileno = lambda: 1  # not reached: the host is not there
    assert _run_on_host(["--help"], {"SCRIBEFLOW_RUN_HOST": str(tmp_path / "gone.sock")},
                        log, verbose=False) is None
    assert log.getvalue() == (f"no run host at {tmp_path}/gone.sock: No such file or directory; "
                              "running in a new process\n")
    quiet = io.StringIO()
    assert _run_on_host(["--help"], {}, quiet, verbose=False) is None
    assert quiet.getvalue() == ""
