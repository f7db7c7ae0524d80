"""The distributed topology, run for real without Docker: PostgreSQL (127.0.0.1:5432) as the
metadata database, Redis (127.0.0.1:6379) as the Celery broker, api-server, scheduler,
dag-processor, triggerer and two Celery workers, one on queue ``default`` and one on
``cuda``. A ``video_pipeline`` run is triggered through the REST API and must succeed with
transcription on the ``cuda`` worker and everything else on ``default``."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.parse
import uuid
from pathlib import Path

import pytest
from e2e.conftest import clean_env

from support.http import free_port, json_request

pytestmark = pytest.mark.topology
ROOT = Path(__file__).resolve().parents[2]
AIRFLOW = str(Path(sys.executable).with_name("airflow"))
REDIS_DB = 11


@pytest.fixture(scope="module")
def topology(tmp_path_factory, media):
    import psycopg
    import redis

    work = tmp_path_factory.mktemp("topology")
    database = f"sf_topology_{uuid.uuid4().hex[:8]}"
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as c:
        c.execute(f"CREATE DATABASE {database}")
    broker = redis.Redis(host="127.0.0.1", port=6379, db=REDIS_DB)
    broker.flushdb()
    api_port = free_port()
    env = clean_env(
        AIRFLOW_HOME=str(work / "home"),
        AIRFLOW__CORE__DAGS_FOLDER=str(ROOT / "dags"),
        AIRFLOW__CORE__PLUGINS_FOLDER=str(ROOT / "plugins"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__EXECUTOR="CeleryExecutor",
        AIRFLOW__CORE__PARALLELISM="4",
        AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="False",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"postgresql+psycopg2://postgres@127.0.0.1:5432/{database}",
        AIRFLOW__CELERY__BROKER_URL=f"redis://127.0.0.1:6379/{REDIS_DB}",
        AIRFLOW__CELERY__RESULT_BACKEND=f"db+postgresql://postgres@127.0.0.1:5432/{database}",
        AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"http://127.0.0.1:{api_port}/execution/",
        AIRFLOW__API__HOST="127.0.0.1",
        AIRFLOW__API__PORT=str(api_port),
        AIRFLOW__API_AUTH__JWT_SECRET=uuid.uuid4().hex,
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="admin:admin",
        PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        PYTHONPATH=str(ROOT / "plugins"),
        SCRIBEFLOW_DATA=str(work / "data"),
    )
    subprocess.run([AIRFLOW, "db", "migrate"], env=env, check=True, capture_output=True)
    subprocess.run([AIRFLOW, "pools", "set", "llm", "4", "LLM"], env=env, check=True,
                   capture_output=True)
    commands = {
        "api-server": ["api-server"], "scheduler": ["scheduler"],
        "dag-processor": ["dag-processor"], "triggerer": ["triggerer"],
        "worker-default": ["celery", "worker", "--queues", "default", "--celery-hostname",
                           "default@scribeflow", "--concurrency", "2"],
        "worker-cuda": ["celery", "worker", "--queues", "cuda", "--celery-hostname",
                        "cuda@scribeflow", "--concurrency", "1"],
    }
    processes: dict[str, subprocess.Popen] = {}
    logs = {name: work / f"{name}.log" for name in commands}
    try:
        for name, args in commands.items():
            extra = {}
            if name.startswith("worker"):  # each worker serves its task logs on its own port
                extra["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"] = str(free_port())
            with open(logs[name], "w") as out:
                processes[name] = subprocess.Popen([AIRFLOW, *args], env=env | extra,
                                                   stdout=out, stderr=subprocess.STDOUT,
                                                   start_new_session=True)
        base = f"http://127.0.0.1:{api_port}"
        deadline = time.monotonic() + 180
        while True:
            dead = [n for n, p in processes.items() if p.poll() is not None]
            assert not dead, {n: logs[n].read_text()[-2000:] for n in dead}
            try:
                status, health = json_request(f"{base}/api/v2/monitor/health")
                if status == 200 and all(v.get("status") == "healthy" for v in health.values()):
                    if all("ready." in logs[n].read_text() for n in logs if n.startswith("worker")):
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the topology did not become healthy"
            time.sleep(2)
        passwords = json.loads((work / "home" / "simple_auth_manager_passwords.json.generated")
                               .read_text())
        _, body = json_request(f"{base}/auth/token", data={"username": "admin",
                                                   "password": passwords["admin"]})
        yield {"base": base, "token": body["access_token"], "logs": logs,
               "video": str(media.root / "talk.mp4"), "processes": processes}
    finally:
        for process in processes.values():
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for process in processes.values():
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=30)
        for process in processes.values():  # nothing it started is left running
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        broker.flushdb()
        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres",
                             autocommit=True) as c:
            c.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")


def test_run_through_the_rest_api_with_transcription_on_the_cuda_worker(topology):
    base, token = topology["base"], topology["token"]
    status, run = json_request(f"{base}/api/v2/dags/video_pipeline/dagRuns", token,
                       {"logical_date": None, "conf": {"url": topology["video"]}})
    assert status == 200, run
    run_id = urllib.parse.quote(run["dag_run_id"], safe="")
    deadline = time.monotonic() + 420
    while True:
        _, state = json_request(f"{base}/api/v2/dags/video_pipeline/dagRuns/{run_id}", token)
        if state["state"] not in ("queued", "running"):
            break
        assert time.monotonic() < deadline, "the run did not finish"
        time.sleep(3)
    _, listing = json_request(f"{base}/api/v2/dags/video_pipeline/dagRuns/{run_id}/taskInstances", token)
    instances = listing["task_instances"]
    assert state["state"] == "success", [(t["task_id"], t["state"]) for t in instances]
    queues = {t["task_id"]: t["queue"] for t in instances}
    assert queues.pop("transcribe") == "cuda"
    assert set(queues.values()) == {"default"} and len(queues) >= 9
    ran = {name: set(re.findall(r"task_id='(\w+)'", path.read_text()))
           for name, path in topology["logs"].items() if name.startswith("worker")}
    assert ran["worker-cuda"] == {"transcribe"}
    assert "transcribe" not in ran["worker-default"]
    assert set(queues) <= ran["worker-default"]


def test_every_started_process_is_running_until_teardown(topology):
    assert all(p.poll() is None for p in topology["processes"].values())
