"""The distributed topology, run for real without Docker: PostgreSQL (127.0.0.1:5432) as the
metadata database, Redis (127.0.0.1:6379) as the Celery broker, api-server, scheduler,
dag-processor, triggerer and two Celery workers, one on queue ``default`` and one on
``cuda``. A ``video_pipeline`` run is triggered through the REST API and must succeed with
transcription on the ``cuda`` worker and everything else on ``default``."""

from __future__ import annotations

import re
import time
import urllib.parse
import uuid

import pytest

from support.airflow import login, prepare, service_env, services
from support.http import free_port, json_request

pytestmark = pytest.mark.topology
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
    env = service_env(
        work / "home", api_port=api_port, executor="CeleryExecutor",
        database=f"postgresql+psycopg2://postgres@127.0.0.1:5432/{database}",
        AIRFLOW__CELERY__BROKER_URL=f"redis://127.0.0.1:6379/{REDIS_DB}",
        AIRFLOW__CELERY__RESULT_BACKEND=f"db+postgresql://postgres@127.0.0.1:5432/{database}",
        SCRIBEFLOW_DATA=str(work / "data"),
    )
    prepare(env)
    commands = {
        "api-server": ["api-server"], "scheduler": ["scheduler"],
        "dag-processor": ["dag-processor"], "triggerer": ["triggerer"],
        "worker-default": ["celery", "worker", "--queues", "default", "--celery-hostname",
                           "default@scribeflow", "--concurrency", "2"],
        "worker-cuda": ["celery", "worker", "--queues", "cuda", "--celery-hostname",
                        "cuda@scribeflow", "--concurrency", "1"],
    }

    def worker_env(name: str) -> dict[str, str]:  # each worker serves its logs on its own port
        return ({"AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port())}
                if name.startswith("worker") else {})

    base = f"http://127.0.0.1:{api_port}"
    try:
        with services(commands, env, work, worker_env) as (processes, logs):
            def healthy() -> bool:
                status, health = json_request(f"{base}/api/v2/monitor/health")
                return (status == 200
                        and all(v.get("status") == "healthy" for v in health.values())
                        and all("ready." in logs[n].read_text() for n in logs
                                if n.startswith("worker")))

            token = login(base, work / "home", processes, logs, ready=healthy)
            yield {"base": base, "token": token, "logs": logs,
                   "video": str(media.root / "talk.mp4"), "processes": processes}
    finally:
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
