"""The run host's client side (``scribeflow.hosts.run_host``) and the CLI's fallback: a run the host
cannot take runs in a process of its own, with the cause in its log. The host itself is
exercised end to end in ``tests/e2e/test_model_host.py``."""

from __future__ import annotations

import io

import pytest

from scribeflow.cli.launcher import _run_on_host
from scribeflow.hosts.run_host import RunHostUnavailable, differences, run_on_host


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


def test_a_host_that_goes_away_during_the_run_is_an_error_not_a_second_run(tmp_path):
    """Once the host has the request, the run may have started: losing the host is the
    run's failure, never a reason to run the video again in a new process."""
    import socket
    import threading

    from scribeflow.core.errors import ScribeflowError

    address = tmp_path / "runs.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(address))
    listener.listen(1)

    def take_the_request_and_vanish():
        conn, _ = listener.accept()
        socket.recv_fds(conn, 4, 1)
        conn.recv(1 << 16)
        conn.close()

    host = threading.Thread(target=take_the_request_and_vanish)
    host.start()
    try:
        with pytest.raises(ScribeflowError, match="went away during the run") as caught:
            run_on_host(address, ["--help"], {}, 1)
        assert not isinstance(caught.value, RunHostUnavailable)
    finally:
        host.join(10)
        listener.close()


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


def test_a_client_that_goes_away_stops_its_run(tmp_path):
    """^C on ``scribeflow run``: the host terminates the run's process group. The run here
    parses a DAG file that sleeps, so it is still running when its client goes away. Before
    it, a request that is not a run's is refused, and the host goes on. Its status, as
    ``scribeflow doctor`` reports it, counts the run and names settings it would refuse."""
    import json
    import os
    import socket
    import subprocess
    import sys
    import time
    from multiprocessing.connection import Connection

    from scribeflow.cli.doctor import _run_host
    from scribeflow.hosts.airflow_home import airflow_env
    from scribeflow.hosts.run_host import HELLO, host_status

    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "sleepy.py").write_text("import time\ntime.sleep(120)\n")
    env = airflow_env() | {"AIRFLOW_HOME": str(tmp_path / "home"),
                           "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
                           "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{tmp_path}/a.db"}
    address = tmp_path / "runs.sock"
    host = subprocess.Popen([sys.executable, "-m", "scribeflow_airflow.runner", "--serve",
                             str(address)], env=env, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not address.exists():
            assert host.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        assert host_status(address, env) == {"pid": host.pid, "running": 0, "differs": []}
        assert host_status(address, env | {"AIRFLOW__CORE__PARALLELISM": "3"})["differs"] == [
            "AIRFLOW__CORE__PARALLELISM"]
        stranger = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        stranger.connect(str(address))
        socket.send_fds(stranger, [b"HTTP"], [1])
        stranger = Connection(stranger.detach())
        stranger.send_bytes(b"GET / HTTP/1.1")
        assert json.loads(stranger.recv_bytes()) == {"refused": "not a run request"}
        stranger.close()
        output = tmp_path / "run.log"
        with open(output, "w") as out:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(str(address))
            socket.send_fds(sock, [HELLO], [out.fileno()])
        conn = Connection(sock.detach())
        conn.send_bytes(json.dumps({"argv": ["--dag-id", "sleepy", "--conf", "{}", "--result",
                                             str(tmp_path / "r.json")],
                                    "env": env, "cwd": str(tmp_path)}).encode())
        while "this run is process" not in output.read_text():
            assert time.monotonic() < deadline, output.read_text()
            time.sleep(0.1)
        pid = int(output.read_text().split("this run is process ")[1].split(",")[0])
        os.kill(pid, 0)  # running: parsing the sleepy DAG
        assert host_status(address, env)["running"] == 1
        found = _run_host(env | {"SCRIBEFLOW_RUN_HOST": str(address)})  # `scribeflow doctor`
        assert found.ok and found.detail == (f"{address}: process {host.pid} with Airflow "
                                             "imported, 1 running")
        found = _run_host(env | {"SCRIBEFLOW_RUN_HOST": str(address), "PYTHONPATH": "/else"})
        assert not found.ok and found.detail.startswith(
            f"the run host at {address} (process {host.pid}) refuses runs from here "
            "(PYTHONPATH not as its own): each run starts a runner process of its own")
        conn.close()  # the client goes away
        while True:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break  # terminated and reaped by the host
            assert time.monotonic() < deadline, "the run outlived its client"
            time.sleep(0.1)
        assert host.poll() is None  # the host goes on serving
    finally:
        host.terminate()
        assert host.wait(30) == 0 and not address.exists()


def test_task_launchers_import_the_tasks_libraries_and_start_no_thread():
    """What the run host, the scheduler and a Celery worker import before forking tasks starts
    no thread (a fork copies only the thread that forks), and the airflow commands that fork
    task processes are told from the rest."""
    import subprocess
    import sys

    from scribeflow_airflow.preload import launches_tasks

    assert launches_tasks(["/venv/bin/airflow", "scheduler"])
    assert launches_tasks(["airflow", "celery", "worker", "-q", "cuda"])
    assert not any(launches_tasks(argv) for argv in (
        ["airflow", "api-server"], ["airflow", "dag-processor"], ["airflow", "celery", "flower"],
        ["airflow"], [], ["python", "scheduler"]))
    check = ("import os, sys; from scribeflow_airflow.preload import task_libraries; "
             "task_libraries(); assert {'weasyprint', 'yt_dlp.extractor.generic', "
             "'scribeflow_airflow.tasks'} <= set(sys.modules); "
             "print(len(os.listdir('/proc/self/task')))")
    threads = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True,
                             check=True).stdout.strip()
    assert threads == "1"
