"""The Docker deployment for real: ``make deploy`` builds the CPU image from the project's
Dockerfile and starts the project's docker-compose.yaml (with docker/local/compose.yaml's
stand-ins for registry images), then videos go through it as a user sends them: copied into
``./media``, triggered through the REST API with Airflow's official client and a JWT from
``/auth/token``, found through the api-server's search plugin. ``make deploy-down`` at the end.

Not in the default suite (``-m docker``; CI runs it as a step of its own: ``make test-docker``).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from support.media import LECTURE, speech_video

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "docker" / "local" / "deploy.sh"
COMPOSE = [str(Path(sys.executable).with_name("docker-compose")), "-p", "scribeflow",
           "-f", str(ROOT / "docker-compose.yaml"), "-f", str(ROOT / "docker" / "local" / "compose.yaml")]
MEDIA = ROOT / "media"
PG = "postgresql://airflow:airflow@127.0.0.1:5433"


@dataclass
class Stack:
    ui: str
    user: str
    password: str
    tag: str  # this session's prefix for files in ./media

    def token(self) -> str:
        request = urllib.request.Request(
            f"{self.ui}/auth/token", method="POST", headers={"Content-Type": "application/json"},
            data=json.dumps({"username": self.user, "password": self.password}).encode())
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)["access_token"]

    def client(self):
        import airflow_client.client as af

        return af.ApiClient(af.Configuration(host=self.ui, access_token=self.token()))


def compose(*args: str, check: bool = True, timeout: float = 600) -> str:
    done = subprocess.run([*COMPOSE, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)
    assert not check or done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def deploy(action: str) -> str:
    done = subprocess.run(["bash", str(DEPLOY), action], cwd=ROOT, capture_output=True,
                          text=True, timeout=3000)
    assert done.returncode == 0, (done.stdout + done.stderr)[-5000:]
    return done.stdout


def write_env(lines: dict[str, str]) -> None:
    tmp = ROOT / ".env.tmp"
    tmp.write_text("".join(f"{k}={v}\n" for k, v in lines.items()))
    tmp.replace(ROOT / ".env")


@pytest.fixture(scope="module")
def stack():
    """``make deploy`` with this test's .env (the user's is put back at the end): a short
    heartbeat timeout, so a killed worker's task is retried in seconds, not five minutes."""
    saved = (ROOT / ".env").read_bytes() if (ROOT / ".env").exists() else None
    settings = {"AIRFLOW_JWT_SECRET": secrets.token_hex(32),
                "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "20",
                "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "3"}
    write_env(settings)
    tag = f"t{secrets.token_hex(3)}"
    try:
        lines = deploy("up").strip().splitlines()
        ui = re.fullmatch(r"UI: (http://127\.0\.0\.1:\d+)", lines[-2])
        login = re.fullmatch(r"login: (\S+) (\S+)", lines[-1])
        assert ui and login, lines[-5:]
        yield Stack(ui[1], login[1], login[2], tag), settings
    finally:
        deploy("down")
        for path in MEDIA.glob(f"{tag}-*"):
            path.unlink()
        if saved is None:
            (ROOT / ".env").unlink(missing_ok=True)
        else:
            (ROOT / ".env").write_bytes(saved)


def trigger(stack: Stack, conf: dict) -> str:
    from airflow_client.client.api.dag_run_api import DagRunApi
    from airflow_client.client.models.trigger_dag_run_post_body import TriggerDAGRunPostBody

    with stack.client() as api:
        run = DagRunApi(api).trigger_dag_run(
            "video_pipeline", TriggerDAGRunPostBody(conf=conf, logical_date=None))
    return run.dag_run_id


def finished(stack: Stack, run_id: str, timeout_s: float = 600):
    from airflow_client.client.api.dag_run_api import DagRunApi

    deadline = time.monotonic() + timeout_s
    with stack.client() as api:
        while True:
            run = DagRunApi(api).get_dag_run("video_pipeline", run_id)
            if run.state.value not in ("queued", "running"):
                return run
            assert time.monotonic() < deadline, f"{run_id} did not finish"
            time.sleep(2)


def instances(stack: Stack, run_id: str) -> dict[str, object]:
    from airflow_client.client.api.task_instance_api import TaskInstanceApi

    with stack.client() as api:
        found = TaskInstanceApi(api).get_task_instances("video_pipeline", run_id)
    return {ti.task_id: ti for ti in found.task_instances if ti.map_index in (-1, 0)}


def summary(run_id: str) -> dict:
    """The run's summary, read in a worker with the product's own reader."""
    out = compose("exec", "-T", "airflow-worker", "python", "-c",
                  "import json, sys; from scribeflow.core.config import PipelineSettings; "
                  "from scribeflow.pipeline.summary import read_run_summary; "
                  "found = read_run_summary(PipelineSettings.from_env(), sys.argv[1]); "
                  "print(json.dumps(found.to_dict() if found else None))",
                  run_id)
    return json.loads(out.strip().splitlines()[-1])


def rows(video_id: str) -> tuple[int, int]:
    import psycopg

    with psycopg.connect(f"{PG}/scribeflow") as conn:
        return conn.execute("SELECT count(*), count(DISTINCT id) FROM scribeflow_chunks "
                            "WHERE video_id = %s", (video_id,)).fetchone()


def recording(stack: Stack, name: str, sentences: tuple[str, ...]) -> str:
    """A spoken recording copied into ./media, as its path in the workers."""
    made = speech_video(Path(os.environ.get("TMPDIR", "/tmp")) / f"{stack.tag}-{name}", sentences)
    shutil.copy(made, MEDIA / f"{stack.tag}-{name}")
    made.unlink()
    return f"/media/{stack.tag}-{name}"


def test_the_stack_comes_up_healthy(stack):
    stack, _ = stack
    services = [json.loads(line) for line in compose("ps", "-a", "--format", "json").splitlines()]
    state = {s["Service"]: (s["State"], s.get("Health", ""), s.get("ExitCode")) for s in services}
    assert state.pop("airflow-init") == ("exited", "", 0)
    assert set(state) == {"postgres", "redis", "airflow-apiserver", "airflow-scheduler",
                          "airflow-dag-processor", "airflow-triggerer", "model-host",
                          "airflow-worker", "model-host-gpu", "airflow-worker-gpu"}
    assert all(s[:2] == ("running", "healthy") for s in state.values()), state


def test_a_video_from_media_goes_through_and_is_found(stack):
    stack, _ = stack
    url = recording(stack, "glaciers.mp4", LECTURE)
    run_id = trigger(stack, {"url": url})
    run = finished(stack, run_id)
    made = summary(run_id)
    assert run.state.value == "success", (run.note, made.get("error"))
    tis = instances(stack, run_id)
    assert tis["transcribe"].queue == "cuda" and tis["transcribe"].state.value == "success"
    # transcribed on the cuda-queue worker (the CPU image here), whose log shows the task
    executed = f"log_path='dag_id=video_pipeline/run_id={run_id}/task_id=transcribe/attempt=1.log'"
    assert executed in compose("logs", "airflow-worker-gpu")
    assert executed not in compose("logs", "airflow-worker")
    # its artifacts are in the data volume, its rows in the containerised pgvector
    listing = compose("exec", "-T", "airflow-worker", "ls", f"/opt/airflow/data/videos/{made['video_id']}")
    assert {"transcript.json", "document.md", "transcript.srt"} <= set(listing.split())
    assert rows(made["video_id"]) == (made["rows"], made["rows"]) and made["rows"] >= 1
    # the search API answers through the api-server's plugin, behind its login
    request = urllib.request.Request(f"{stack.ui}/scribeflow/api/search?q=blue+ice+glaciers",
                                     headers={"Authorization": f"Bearer {stack.token()}"})
    with urllib.request.urlopen(request, timeout=60) as response:
        hits = json.load(response)["hits"]
    assert hits and hits[0]["video_id"] == made["video_id"]
    # the run's note names the video and leads to its results page, behind the same login
    title, result, page = run.note.split("\n")
    assert title == f"Video: {made['title']}" and result.startswith("Result: success: ")
    link = re.search(r"\((/scribeflow/videos/[^)]+)\)", page)[1]
    request = urllib.request.Request(f"{stack.ui}{link}",
                                     headers={"Authorization": f"Bearer {stack.token()}"})
    with urllib.request.urlopen(request, timeout=60) as response:
        html = response.read().decode()
    assert f"<h1>{made['title']}</h1>" in html and "Subtitles (SRT)" in html
    assert made["settings"]["chunk_words"] == 150


def test_a_setting_changed_in_env_changes_the_next_run(stack):
    stack, settings = stack
    write_env(settings | {"SCRIBEFLOW_CHUNK_WORDS": "40"})
    compose("up", "-d", "--no-build", "--wait", "--wait-timeout", "600")
    from airflow_client.client.api.dag_api import DAGApi

    deadline = time.monotonic() + 300
    while True:  # the dag-processor parses the DAG file again with the new setting
        with stack.client() as api:
            params = DAGApi(api).get_dag_details("video_pipeline").params
        if params["chunk_words"]["value"] == 40:
            break
        assert time.monotonic() < deadline, params["chunk_words"]
        time.sleep(2)
    url = recording(stack, "glaciers-again.mp4", LECTURE)
    run_id = trigger(stack, {"url": url})
    assert finished(stack, run_id).state.value == "success"
    made = summary(run_id)
    assert made["settings"]["chunk_words"] == 40 and made["chunks"] >= 3


def test_a_worker_killed_mid_transcribe_leaves_a_retried_task_and_one_videos_rows(stack):
    import psycopg

    stack, _ = stack
    url = recording(stack, "long-glaciers.mp4", LECTURE * 4)
    run_id = trigger(stack, {"url": url})
    deadline = time.monotonic() + 300
    while True:
        ti = instances(stack, run_id).get("transcribe")
        if ti is not None and ti.state is not None and ti.state.value == "running":
            break
        assert ti is None or ti.state is None or ti.state.value not in ("success", "failed")
        assert time.monotonic() < deadline, "transcribe never ran"
        time.sleep(0.3)
    container = compose("ps", "-q", "airflow-worker-gpu").strip()
    subprocess.run(["docker", "kill", "--signal", "KILL", container], check=True,
                   capture_output=True, timeout=60)
    compose("up", "-d", "--no-build", "--wait", "--wait-timeout", "600", "airflow-worker-gpu")
    run = finished(stack, run_id)
    made = summary(run_id)
    assert run.state.value == "success", (run.note, made.get("error"))
    with psycopg.connect(f"{PG}/airflow") as conn:
        history = conn.execute("SELECT try_number, state FROM task_instance_history "
                               "WHERE run_id = %s AND task_id = 'transcribe'", (run_id,)).fetchall()
    assert history == [(1, "failed")]
    assert instances(stack, run_id)["transcribe"].try_number == 2
    assert rows(made["video_id"]) == (made["rows"], made["rows"]) and made["rows"] >= 3


def test_bad_input_through_the_form_fails_with_its_cause_in_the_run_note(stack):
    stack, _ = stack
    (MEDIA / f"{stack.tag}-notes.txt").write_text("these are notes, not a recording\n")
    for name, cause in (("notes.txt", "not a media file: "), ("missing.mp4", "")):
        run_id = trigger(stack, {"url": f"/media/{stack.tag}-{name}"})
        run = finished(stack, run_id)
        error = summary(run_id)["error"]
        assert run.state.value == "failed" and error["step"] == "download"
        assert error["cause"].startswith(cause) and f"{stack.tag}-{name}" in error["cause"]
        assert "\n" not in error["cause"] and "Traceback" not in error["cause"]
        assert f"Result: failed at download: {error['cause']}" in run.note.split("\n")
