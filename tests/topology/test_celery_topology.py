"""The distributed topology, run for real without Docker: PostgreSQL (127.0.0.1:5432) as the
metadata database, Redis (127.0.0.1:6379) as the Celery broker, api-server, scheduler,
dag-processor, triggerer and two Celery workers, one on queue ``default`` and one on
``cuda``, as on two hosts: each worker has a local folder of its own and a model host
(``scribeflow models serve``) beside it, as in the compose file, and they share only the
services and the data folder on object storage (a real S3-compatible server, its credentials
in an Airflow connection). A ``video_pipeline`` run is triggered through the REST API and must
succeed with transcription on the ``cuda`` worker and everything else on ``default``; another
survives each worker being killed mid-task (pgvector from the pgserver wheel as the store)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.parse
import uuid
from pathlib import Path

import pytest

from support.airflow import kill_tree, login, prepare, service_env, services, spawn
from support.http import free_port, json_request
from support.media import LECTURE, speech_video

pytestmark = pytest.mark.topology
REDIS_DB = 11
SCRIBEFLOW = str(Path(sys.executable).with_name("scribeflow"))


@pytest.fixture(scope="module")
def topology(tmp_path_factory, media, pg_server, s3):
    import psycopg
    import redis

    work = tmp_path_factory.mktemp("topology")
    database = f"sf_topology_{uuid.uuid4().hex[:8]}"
    pg_server.psql(f"CREATE DATABASE {database};")
    vectors = pg_server.get_uri(database)
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as c:
        c.execute(f"CREATE DATABASE {database}")
    broker = redis.Redis(host="127.0.0.1", port=6379, db=REDIS_DB)
    broker.flushdb()
    api_port = free_port()
    bucket = s3.new_bucket()
    env = service_env(
        work / "home", api_port=api_port, executor="CeleryExecutor",
        database=f"postgresql+psycopg2://postgres@127.0.0.1:5432/{database}",
        AIRFLOW__CELERY__BROKER_URL=f"redis://127.0.0.1:6379/{REDIS_DB}",
        AIRFLOW__CELERY__RESULT_BACKEND=f"db+postgresql://postgres@127.0.0.1:5432/{database}",
        SCRIBEFLOW_DATA=f"s3://{bucket}/data",
        SCRIBEFLOW_WORKDIR=str(work / "services-host"),
        AIRFLOW_CONN_SCRIBEFLOW_DATA=s3.connection(),
        SCRIBEFLOW_STORE="pgvector",
        SCRIBEFLOW_PGVECTOR_DSN=vectors,
        # a deployment of English channels: auto reads them with the bundled tiny.en
        SCRIBEFLOW_LANGUAGE="en",
        # a task whose worker died is failed (and retried) after 15 s without a heartbeat,
        # not the default 5 minutes
        AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT="15",
        AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL="3",
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

    def worker_env(name: str) -> dict[str, str]:
        """Each worker serves its logs on its own port, works in a folder of its own and sends
        its models' work to the model host of its host, as in the compose file."""
        return ({"AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
                 "SCRIBEFLOW_WORKDIR": str(work / f"{name}-host"),
                 "SCRIBEFLOW_MODEL_HOST": str(work / f"{name}-run" / "models.sock")}
                if name.startswith("worker") else {})

    base = f"http://127.0.0.1:{api_port}"
    hosts = {name: model_host(env | worker_env(name), work / f"{name}-model-host.log")
             for name in ("worker-default", "worker-cuda")}
    try:
        with services(commands, env, work, worker_env) as (processes, logs):
            def healthy() -> bool:
                status, health = json_request(f"{base}/api/v2/monitor/health")
                return (status == 200
                        and all(v.get("status") == "healthy" for v in health.values())
                        and all("ready." in logs[n].read_text() for n in logs
                                if n.startswith("worker")))

            token = login(base, work / "home", processes, logs, ready=healthy)
            def restart(name: str) -> None:  # what compose's `restart: always` does
                processes[name] = spawn(commands[name], env | worker_env(name), logs[name], "a")

            yield {"base": base, "token": token, "logs": logs, "work": work,
                   "model_hosts": {n: worker_env(n)["SCRIBEFLOW_MODEL_HOST"] for n in hosts},
                   "video": str(media.root / "talk.mp4"), "processes": processes,
                   "restart": restart, "metadata": database, "vectors": vectors,
                   "s3": s3, "bucket": bucket, "env": env}
    finally:
        for host in hosts.values():
            host.terminate()
            host.wait(30)
        broker.flushdb()
        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres",
                             autocommit=True) as c:
            c.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")


def model_host(env: dict[str, str], log: Path) -> subprocess.Popen:
    """``scribeflow models serve`` on a worker host's socket, as compose's model-host runs."""
    socket = Path(env["SCRIBEFLOW_MODEL_HOST"])
    with open(log, "w") as out:
        proc = subprocess.Popen([SCRIBEFLOW, "models", "serve"], env=env, stdout=out,
                                stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while not socket.exists():
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.2)
    return proc


def _host_status(topology, worker: str) -> dict:
    from scribeflow.hosts.model_client import ModelHostClient

    return ModelHostClient(topology["model_hosts"][worker]).status()


def _finished(base: str, token: str, run_id: str, timeout_s: float) -> dict:
    """The run as the REST API shows it once it is neither queued nor running."""
    quoted = urllib.parse.quote(run_id, safe="")
    deadline = time.monotonic() + timeout_s
    while True:
        _, state = json_request(f"{base}/api/v2/dags/video_pipeline/dagRuns/{quoted}", token)
        if state["state"] not in ("queued", "running"):
            return state
        assert time.monotonic() < deadline, "the run did not finish"
        time.sleep(3)


def _trigger(topology, conf: dict) -> str:
    status, run = json_request(f"{topology['base']}/api/v2/dags/video_pipeline/dagRuns",
                               topology["token"], {"logical_date": None, "conf": conf})
    assert status == 200, run
    return run["dag_run_id"]


def _summary(topology, run_id: str) -> dict:
    from scribeflow.pipeline.summary import summary_key

    body = topology["s3"].client().get_object(Bucket=topology["bucket"],
                                              Key=f"data/{summary_key(run_id)}")["Body"]
    return json.loads(body.read())


def _local_files(topology) -> list[str]:
    """Files left in the workers' own folders, once the digest runs the stored videos
    triggered (on the library's asset) have ended, each having succeeded."""
    _digests_finished(topology)
    return [str(p) for name in ("worker-default", "worker-cuda")
            for p in (topology["work"] / f"{name}-host").rglob("*") if p.is_file()]


def _digests_finished(topology, timeout: float = 300) -> None:
    base, token = topology["base"], topology["token"]
    deadline = time.monotonic() + timeout
    while True:
        _, body = json_request(f"{base}/api/v2/dags/digest/dagRuns?limit=100", token)
        runs = body.get("dag_runs", [])
        status, queued = json_request(f"{base}/api/v2/dags/digest/assets/queuedEvents", token)
        waiting = queued.get("queued_events", []) if status == 200 else []  # 404: none
        if not waiting and all(r["state"] in ("success", "failed") for r in runs):
            assert {r["state"] for r in runs} <= {"success"}, runs
            return
        assert time.monotonic() < deadline, [(r["dag_run_id"], r["state"]) for r in runs]
        time.sleep(2)


def test_run_through_the_rest_api_with_transcription_on_the_cuda_worker(topology):
    base, token = topology["base"], topology["token"]
    run_id = _trigger(topology, {"url": topology["video"]})
    state = _finished(base, token, run_id, 420)
    run_id = urllib.parse.quote(run_id, safe="")
    _, listing = json_request(f"{base}/api/v2/dags/video_pipeline/dagRuns/{run_id}/taskInstances", token)
    instances = listing["task_instances"]
    assert state["state"] == "success", [(t["task_id"], t["state"]) for t in instances]
    # the scheduler's listener wrote the outcome where the UI shows it
    title, outcome, page = state["note"].split("\n")
    assert title.startswith("Video: ") and page.startswith("Results page: [/scribeflow/videos/")
    assert re.fullmatch(r"Result: success: \d+ chunks?, \d+ rows? stored", outcome), state
    queues = {t["task_id"]: t["queue"] for t in instances}
    assert queues.pop("transcribe") == queues.pop("find_speakers") == "cuda"
    assert set(queues.values()) == {"default"} and len(queues) >= 9
    ran = {name: set(re.findall(r"task_id='(\w+)'", path.read_text()))
           for name, path in topology["logs"].items() if name.startswith("worker")}
    assert ran["worker-cuda"] == {"transcribe", "find_speakers"}
    assert not {"transcribe", "find_speakers"} & ran["worker-default"]
    assert set(queues) <= ran["worker-default"]
    # every artifact is in the bucket, and nothing is left in either worker's folder
    summary = _summary(topology, state["dag_run_id"])
    keys = topology["s3"].keys(topology["bucket"], f"data/videos/{summary['video_id']}/")
    names = {k.split("/", 3)[3] for k in keys}
    assert {"metadata.json", "audio.wav", "transcript.json", "transcript.srt", "chunks.json",
            "llm/group-000.json", "document.md", "document_chunks.json", "quality.json",
            "chapters.json", "document.html", "document.pdf"} <= names, names
    assert summary["outputs"]["document"] == (f"s3://{topology['bucket']}/data/videos/"
                                              f"{summary['video_id']}/document.md")
    assert summary["transcription"] == "done"
    assert _local_files(topology) == []
    # each host's model host did its tasks' model work, loading each model once
    cuda, default = _host_status(topology, "worker-cuda"), _host_status(topology, "worker-default")
    assert cuda["loads"] == {"whisper tiny.en (cpu/int8)": 1, "speakers campplus-cn-en-common": 1}
    assert cuda["requests"] == 2  # the transcription and the speakers
    assert default["loads"] == {"embedding all-MiniLM-L6-v2": 1} and default["requests"] == 1
    assert summary["timings"]["transcribe"]["model_load_s"] == 0
    assert {p.name for p in topology["work"].glob("*-host")} >= {"worker-default-host",
                                                                "worker-cuda-host"}
    # a second run of the video, on whichever worker, reuses the transcript in the bucket
    again = _trigger(topology, {"url": topology["video"]})
    assert _finished(base, token, again, 300)["state"] == "success"
    assert _summary(topology, again)["transcription"] == "reused"
    assert _summary(topology, again)["embedding"] == "nothing changed: no model loaded"
    assert _host_status(topology, "worker-default")["requests"] == 1  # nothing to embed
    assert _local_files(topology) == []


def test_every_started_process_is_running_until_teardown(topology):
    assert all(p.poll() is None for p in topology["processes"].values())


def _instance(database: str, run_id: str, task_id: str) -> tuple[str | None, int]:
    import psycopg

    with psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{database}") as conn:
        row = conn.execute("SELECT state, try_number FROM task_instance WHERE dag_id = "
                           "'video_pipeline' AND run_id = %s AND task_id = %s",
                           (run_id, task_id)).fetchone()
    return (row[0], row[1]) if row else (None, 0)


def _kill_when_running(topology, run_id: str, task_id: str, worker: str) -> None:
    """Wait until ``task_id``'s first try runs, then kill its worker as a dying host would,
    and start it again as compose's restart policy does."""
    deadline = time.monotonic() + 300
    while _instance(topology["metadata"], run_id, task_id) != ("running", 1):
        state = _instance(topology["metadata"], run_id, task_id)
        assert state[1] <= 1 and state[0] not in ("success", "failed"), (task_id, state)
        assert time.monotonic() < deadline, f"{task_id} never ran"
        time.sleep(0.2)
    killed = kill_tree(topology["processes"][worker])
    assert len(killed) >= 3  # the worker, its pool process, the task's supervisor and more
    topology["restart"](worker)


def test_a_worker_killed_mid_task_is_noticed_and_the_task_retried(topology):
    import psycopg

    video = speech_video(topology["work"] / "glaciers.mp4", LECTURE * 3)
    base, token = topology["base"], topology["token"]
    status, run = json_request(f"{base}/api/v2/dags/video_pipeline/dagRuns", token, {
        "logical_date": None,
        "conf": {"url": str(video), "store": "pgvector", "chunk_words": 40}})
    assert status == 200, run
    run_id = run["dag_run_id"]
    _kill_when_running(topology, run_id, "transcribe", "worker-cuda")
    _kill_when_running(topology, run_id, "embed_and_upsert", "worker-default")
    state = _finished(base, token, run_id, 480)
    assert state["state"] == "success", state
    with psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{topology['metadata']}") as c:
        history = c.execute(
            "SELECT task_id, try_number, state FROM task_instance_history WHERE run_id = %s "
            "AND task_id IN ('transcribe', 'embed_and_upsert') ORDER BY task_id, try_number",
            (run_id,)).fetchall()
    # Airflow noticed each dead worker (no heartbeat) and failed that try; the next try, on the
    # restarted worker, succeeded
    assert history == [("embed_and_upsert", 1, "failed"), ("transcribe", 1, "failed")]
    assert _instance(topology["metadata"], run_id, "transcribe") == ("success", 2)
    assert _instance(topology["metadata"], run_id, "embed_and_upsert") == ("success", 2)
    summary = _summary(topology, run_id)
    with psycopg.connect(topology["vectors"]) as conn:
        rows = conn.execute("SELECT count(*), count(DISTINCT id) FROM scribeflow_chunks "
                            "WHERE video_id = %s", (summary["video_id"],)).fetchone()
    assert rows == (summary["chunks"], summary["chunks"])
    assert summary["status"] == "success" and summary["chunks"] >= 5
    # the hosts outlived the workers killed beside them: no model was loaded again
    assert _host_status(topology, "worker-cuda")["loads"] == {
        "whisper tiny.en (cpu/int8)": 1, "speakers campplus-cn-en-common": 1}
    assert state["note"].split("\n")[1] == \
        f"Result: success: {summary['chunks']} chunks, {summary['rows']} rows stored"
    # the killed tasks' scratch copies were swept by the restarted workers' next tasks
    assert _local_files(topology) == []


def test_reindex_rebuilds_either_store_from_the_bucket_alone(topology, tmp_path):
    """The vector database is lost: ``scribeflow reindex`` rebuilds it from the bucket (with
    the provider's environment for credentials), and builds a Parquet store on this host."""
    import os
    import subprocess
    import sys

    import psycopg

    with psycopg.connect(topology["vectors"]) as conn:
        before = conn.execute("SELECT id, video_id FROM scribeflow_chunks ORDER BY id").fetchall()
        conn.execute("DELETE FROM scribeflow_chunks")
    assert before, "an earlier test stores rows"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "SCRIBEFLOW"))}
    env |= topology["s3"].env() | {"SCRIBEFLOW_WORKDIR": str(tmp_path / "host"),
                                   "SCRIBEFLOW_PGVECTOR_DSN": topology["vectors"]}
    data = f"s3://{topology['bucket']}/data"
    cli = [sys.executable, "-m", "scribeflow.cli.main", "reindex", "--data-dir", data]
    rebuilt = subprocess.run(cli + ["--store", "pgvector"], env=env, capture_output=True,
                             text=True, timeout=300)
    assert rebuilt.returncode == 0, rebuilt.stderr
    with psycopg.connect(topology["vectors"]) as conn:
        after = conn.execute("SELECT id, video_id FROM scribeflow_chunks ORDER BY id").fetchall()
    assert after == before
    local = subprocess.run(cli + ["--store", "parquet"], env=env, capture_output=True,
                           text=True, timeout=300)
    assert local.returncode == 0, local.stderr
    videos = len({v for _, v in before})
    assert f"reindexed {videos} videos into parquet: {len(before)} rows in all" in local.stdout
    assert [p.name for p in (tmp_path / "host").iterdir()] == ["store"]  # no scratch left
