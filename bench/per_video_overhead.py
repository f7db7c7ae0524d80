"""P14: the cost of a video that does not depend on the video, on both paths.

In-process (``scribeflow run``, ``dag.test()``), on the sample lesson (the text ``make
sample`` speaks; ``sample_s`` is its length; CPU, tiny.en, no LLM), in a fresh data folder,
once with the models loaded in the tasks (``tasks``), once with a model host
(``scribeflow models serve``) running with its models loaded, as it serves every video of
its host (``model_host``), and once with the model host and a run host (``scribeflow runs
serve``: Airflow imported once, a forked child per run; ``run_host``; ``on_run_host`` says
the run's log begins in a forked child):
- ``first``: the clip's first run;
- ``rerun_dag``: the run again with ``--force``: the DAG runs, every step reuses its work;
- ``rerun``: the run again: reuse decided before Airflow starts.

Through the scheduler (api-server, scheduler and dag-processor on LocalExecutor, parallelism
4, SQLite, the scheduler's idle sleep as ``make up`` and compose set it), without and then
with a model host: after a warm-up run (a deployment's first run also starts the executor's
workers: ``deployment_first_run_s``), one
run of the sample clip (trigger → success, as the metadata database records it: queued to
end), then ``--videos`` new clips (about 8 s of speech each) triggered at
once. The host starts with its models loaded, as compose's ``model-host`` does; model loads
are counted from each task's clock (a task that loaded a model) and from the host's own
count.

Each run's summary carries its tasks' clocks (``timings``); the breakdown is read from them:
per task, the scheduling (previous task's end to this task's process start), the start-up
(process start to the task's code: Airflow's task runner), imports, model loads and work. ``overhead_s`` is wall (or trigger → success) minus the transcription's
own seconds (the model's decode, as the transcript records it); no LLM is configured, so
there is no LLM waiting.
``--quick`` (the smoke run) leaves out the warm-up, the sample's run and the deployment
without a model host through the scheduler (one new clip, with the model host), and, in-process,
the warm-up run (the metadata database is migrated alone), the run with a model host alone
and the re-runs with hosts.

Usage: python bench/per_video_overhead.py [--videos 10] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
from datetime import datetime
from pathlib import Path

import _common  # noqa: F401  (puts plugins/ and tests/ on the path)
from _common import migrate_metadata

from scribeflow.hosts.airflow_home import SCHEDULER_IDLE_SLEEP_S
from support.airflow import clean_env, login, prepare, service_env, services
from support.http import free_port, json_request

SAMPLE_TEXT = ("Welcome to this short lesson about the water cycle. The sun heats the ocean and "
               "water rises into the sky as vapor. High in the air the vapor cools and forms "
               "clouds. When the droplets grow heavy they fall back to the ground as rain or "
               "snow. Rivers carry the water back to the sea, and the cycle begins again.")
TOPICS = ("volcanoes", "glaciers", "bread", "Jupiter", "tides", "honey bees", "bridges",
          "comets", "coral reefs", "windmills", "deserts", "rainbows")
SCRIBEFLOW = str(Path(sys.executable).with_name("scribeflow"))


def clip(path: Path, text: str) -> Path:
    """An MP4 of espeak-ng reading ``text`` (as ``make sample`` makes the sample)."""
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    wav = path.with_suffix(".wav")
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(wav), text], check=True)
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(wav), "-f",
                    "lavfi", "-i", "color=c=navy:s=320x240:r=15", "-shortest", "-c:v",
                    "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", str(path)], check=True)
    wav.unlink()
    return path


def breakdown(summary: dict, run_start: float, run_end: float) -> dict:
    """The run's tasks in the order they ran, each with: ``scheduling_s``, from the previous
    task's end (or the run's start) to its process's start (the scheduler and executor; 0
    in-process, where one process runs them all); ``startup_s``, from then to the task's own
    code (Airflow's task runner: parsing, the execution API); then ``imports_s``,
    ``model_load_s`` and ``work_s``, from the summary's ``timings``."""
    timings = summary.get("timings") or {}
    ordered = sorted(timings.items(), key=lambda kv: kv[1]["started"])
    tasks, previous = {}, run_start
    for name, t in ordered:
        process = t["process_started"] or t["started"]
        scheduling = max(process - previous, 0.0)
        tasks[name] = {"scheduling_s": round(scheduling, 2),
                       "startup_s": round(t["started"] - max(process, previous), 2),
                       "imports_s": t["imports_s"], "model_load_s": t["model_load_s"],
                       "work_s": t["work_s"]}
        previous = max(previous, t["ended"])
    keys = ("scheduling_s", "startup_s", "imports_s", "model_load_s", "work_s")
    total = {k: round(sum(v[k] for v in tasks.values()), 2) for k in keys}
    total["after_last_task_s"] = round(run_end - previous, 2)
    return {"tasks": tasks, "total": total}


def _summary(data: Path, run_id: str) -> dict:
    from scribeflow.core.files import DataPaths

    return json.loads(DataPaths(data).run_summary(run_id).read_text())


def _transcribe_s(data: Path, summary: dict) -> float:
    transcript = data / "videos" / summary["video_id"] / "transcript.json"
    return float(json.loads(transcript.read_text())["processing_s"])


def _loads(summaries: list[dict]) -> dict:
    """Tasks that loaded a model themselves: whisper in transcribe, the speaker model in
    find_speakers, the embedder in embed."""
    count = {"whisper": 0, "speakers": 0, "embedding": 0}
    for s in summaries:
        t = s.get("timings") or {}
        count["whisper"] += t.get("transcribe", {}).get("model_load_s", 0) > 0
        count["speakers"] += t.get("find_speakers", {}).get("model_load_s", 0) > 0
        count["embedding"] += t.get("embed_and_upsert", {}).get("model_load_s", 0) > 0
    return count


# -- in-process ----------------------------------------------------------------------------


def _cli_run(video: Path, env: dict, *extra: str) -> tuple[float, float, str]:
    started = time.time()
    proc = subprocess.run([SCRIBEFLOW, "run", str(video), *extra], env=env, capture_output=True,
                          text=True, timeout=600)
    ended = time.time()
    if proc.returncode != 0:
        raise RuntimeError(f"scribeflow run failed: {proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return started, ended, proc.stdout


def _log(stdout: str) -> str:
    """The run's Airflow log, which ``scribeflow run`` names."""
    return Path(stdout.split("(Airflow log: ", 1)[1].split(")", 1)[0]).read_text()


def _run_id(stdout: str) -> str:
    line = next(line for line in stdout.splitlines() if line.startswith("summary:"))
    return Path(line.split(None, 1)[1]).parent.name


#: The clips are English and said to be, so auto reads them with the bundled tiny.en (the
#: model this benchmark's figures were measured with; base is P16's subject).
ENGLISH = {"SCRIBEFLOW_LANGUAGE": "en"}


def in_process(work: Path, sample: Path, host: str | None, runs: str | None = None,
               reruns: bool = True) -> dict:
    data = work / f"inprocess-{'runs' if runs else 'host' if host else 'tasks'}"
    env = clean_env(AIRFLOW_HOME=str(work / "inprocess-home"), SCRIBEFLOW_DATA=str(data),
                    **ENGLISH)
    if host:
        env["SCRIBEFLOW_MODEL_HOST"] = host
    if runs:
        env["SCRIBEFLOW_RUN_HOST"] = runs
    out: dict = {}
    for name, extra in (("first", ()), ("rerun_dag", ("--force",)), ("rerun", ()))[
            :3 if reruns else 1]:
        started, ended, stdout = _cli_run(sample, env, *extra)
        entry = {"wall_s": round(ended - started, 2)}
        if name == "rerun":
            entry["reused_before_airflow"] = "reused run" in stdout
        else:
            entry["on_run_host"] = _log(stdout).startswith("run host: this run is process")
            summary = _summary(data, _run_id(stdout))
            entry |= {"transcription": summary["transcription"],
                      "embedding": summary.get("embedding"),
                      "breakdown": breakdown(summary, started, ended)}
            if name == "first":
                entry["transcribe_s"] = _transcribe_s(data, summary)
                entry["overhead_s"] = round(entry["wall_s"] - entry["transcribe_s"], 2)
                entry["loads_in_tasks"] = _loads([summary])
        out[name] = entry
    return out


def start_host(socket: Path, log: Path, env: dict, preload: bool, kind: str = "models"
               ) -> subprocess.Popen:
    """``scribeflow models serve`` (``kind`` ``models``) or ``scribeflow runs serve``, ready."""
    socket.unlink(missing_ok=True)
    with open(log, "w") as handle:
        proc = subprocess.Popen([SCRIBEFLOW, kind, "serve", "--socket", str(socket),
                                 *(["--preload"] if preload else [])], env=env, stdout=handle,
                                stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 180
    while f"{'model' if kind == 'models' else 'run'} host ready" not in log.read_text():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"scribeflow {kind} serve did not start: {log.read_text()[-2000:]}")
        time.sleep(0.2)
    return proc


def host_status(socket: Path) -> dict:
    from scribeflow.hosts.model_client import ModelHostClient

    return ModelHostClient(socket).status()


def stop(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


# -- through the scheduler -------------------------------------------------------------------


def _span(run: dict) -> float:
    return _epoch(run["end_date"]) - _epoch(run["queued_at"])


def _epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def scheduler(work: Path, sample: Path, videos: list[Path], with_host: bool, quick: bool = False
              ) -> dict:
    mode = "host" if with_host else "tasks"
    home, data = work / f"scheduler-{mode}", work / f"scheduler-{mode}-data"
    port = free_port()
    extra = {"SCRIBEFLOW_DATA": str(data), **ENGLISH,  # the scheduler as `make up` runs it
             "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": os.environ.get(
                 "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME", SCHEDULER_IDLE_SLEEP_S)}
    socket = Path(tempfile.mkdtemp(prefix="sf-")) / "models.sock"
    if with_host:
        extra["SCRIBEFLOW_MODEL_HOST"] = str(socket)
    env = service_env(home, api_port=port, executor="LocalExecutor",
                      database=f"sqlite:///{home}/airflow.db?timeout=30", **extra)
    prepare(env)
    # preloaded, as compose's model-host starts: its loads are counted all the same
    host = start_host(socket, home / "model-host.log", env, preload=True) if with_host else None
    commands = {"api-server": ["api-server"], "scheduler": ["scheduler"],
                "dag-processor": ["dag-processor"]}
    base = f"http://127.0.0.1:{port}"
    try:
        with services(commands, env, home) as (processes, logs):
            token = login(base, home, processes, logs)
            _wait_parsed(base, token)

            def trigger(video: Path) -> str:
                status, run = json_request(f"{base}/api/v2/dags/video_pipeline/dagRuns", token,
                                           {"logical_date": None, "conf": {"url": str(video)}})
                assert status == 200, run
                return run["dag_run_id"]

            def finished(run_ids: list[str]) -> list[dict]:
                deadline = time.monotonic() + 900
                runs: dict[str, dict] = {}
                while len(runs) < len(run_ids):
                    assert time.monotonic() < deadline, "runs did not finish"
                    for run_id in run_ids:
                        _, run = json_request(f"{base}/api/v2/dags/video_pipeline/dagRuns/"
                                              f"{urllib.parse.quote(run_id, safe='')}", token)
                        if run.get("state") in ("success", "failed"):
                            runs[run_id] = run
                    time.sleep(0.5)
                failed = [r for r in runs.values() if r["state"] != "success"]
                assert not failed, f"{failed[0]['dag_run_id']} failed; see {home}"
                return [runs[r] for r in run_ids]

            # the deployment's first run pays one-off costs (the executor's workers start);
            # --quick leaves it out (its figures then include them), and the sample's run
            warm_up = None if quick else finished([trigger(videos[0].with_name("warm.mp4"))])[0]
            first, summaries_before = None, []
            if not quick:
                one = finished([trigger(sample)])[0]
                summaries_before = [_summary(data, one["dag_run_id"])]
                first = {"trigger_to_success_s": round(_span(one), 2),
                         "transcribe_s": _transcribe_s(data, summaries_before[0]),
                         "breakdown": breakdown(summaries_before[0], _epoch(one["queued_at"]),
                                                _epoch(one["end_date"]))}
                first["overhead_s"] = round(first["trigger_to_success_s"]
                                            - first["transcribe_s"], 2)
            started = time.monotonic()
            runs = finished([trigger(v) for v in videos])
            wall = time.monotonic() - started
            summaries = [_summary(data, r["dag_run_id"]) for r in runs]
            status = host_status(socket) if with_host else None
    finally:
        if host is not None:
            stop(host)
        shutil.rmtree(socket.parent, ignore_errors=True)
    spans = sorted(_span(r) for r in runs)
    return {
        "scheduler_idle_sleep_s": float(extra["AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME"]),
        "deployment_first_run_s": round(_span(warm_up), 2) if warm_up else None,
        "first": first,
        "videos": {"count": len(videos), "wall_s": round(wall, 2),
                   "median_trigger_to_success_s": round(spans[len(spans) // 2], 2),
                   "transcription": sorted({s["transcription"] for s in summaries}),
                   "model_load_s_in_tasks": round(sum(
                       t.get("model_load_s", 0) + t.get("imports_s", 0)
                       for s in summaries for t in (s.get("timings") or {}).values()), 2)},
        "loads_in_tasks": _loads([*summaries_before, *summaries]),
        "host": ({"loads": status["loads"], "requests": status["requests"],
                  "peak_memory_mb": status["peak_memory_mb"]} if status else None),
    }


def _wait_parsed(base: str, token: str) -> None:
    deadline = time.monotonic() + 180
    while json_request(f"{base}/api/v2/dags/video_pipeline", token)[0] != 200:
        assert time.monotonic() < deadline, "video_pipeline was not parsed"
        time.sleep(1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--videos", type=int, default=10)
    parser.add_argument("--quick", action="store_true",
                        help="1 video through the scheduler with the model host (no warm-up, "
                        "no sample run); in-process, no run with the model host alone and "
                        "the re-runs only without hosts")
    parser.add_argument("--only", choices=("in_process", "scheduler"),
                        help="measure one path (its ratios are then left out)")
    args = parser.parse_args()
    n = 1 if args.quick else args.videos
    work = Path(tempfile.mkdtemp(prefix="bench-overhead-"))
    sample = clip(work / "lesson.mp4", SAMPLE_TEXT)
    videos = [clip(work / f"clip-{i:02d}.mp4",
                   f"This is clip number {i + 1}. Today we talk about {TOPICS[i % len(TOPICS)]}. "
                   f"It is a short clip about {TOPICS[i % len(TOPICS)]}, made for this test.")
              for i in range(n)]
    clip(work / "warm.mp4", "A warm-up clip.")
    results: dict = {"sample_s": _duration(sample)}
    if args.only in (None, "in_process"):
        env = clean_env(AIRFLOW_HOME=str(work / "inprocess-home"), **ENGLISH)
        if args.quick:  # the metadata database's set-up alone
            migrate_metadata(env, work / "migrate.log")
        else:  # the metadata database's set-up, and the libraries and models read from disk
            _cli_run(work / "warm.mp4", env | {"SCRIBEFLOW_DATA": str(work / "warm")})
        socket = Path(tempfile.mkdtemp(prefix="sf-")) / "models.sock"
        runs_socket = socket.with_name("runs.sock")
        host = start_host(socket, work / "model-host.log", env, preload=True)
        runs = start_host(runs_socket, work / "run-host.log", env, preload=False, kind="runs")
        try:
            ip = results["in_process"] = {"tasks": in_process(work, sample, None)}
            if not args.quick:  # --quick: the re-runs once, without hosts; no host alone
                ip["model_host"] = in_process(work, sample, str(socket))
            ip["run_host"] = in_process(work, sample, str(socket), str(runs_socket),
                                        reruns=not args.quick)
            ip["run_host"]["host_loads"] = host_status(socket)["loads"]
        finally:
            stop(runs)
            stop(host)
            shutil.rmtree(socket.parent, ignore_errors=True)
        results["ratio_rerun_over_first"] = round(ip["tasks"]["rerun"]["wall_s"]
                                                  / ip["tasks"]["first"]["wall_s"], 3)
        results["ratio_first_run_host_over_tasks"] = round(
            ip["run_host"]["first"]["wall_s"] / ip["tasks"]["first"]["wall_s"], 3)
        if "model_host" in ip:
            results["ratio_first_model_host_over_tasks"] = round(
                ip["model_host"]["first"]["wall_s"] / ip["tasks"]["first"]["wall_s"], 3)
            results["ratio_first_run_host_over_model_host"] = round(
                ip["run_host"]["first"]["wall_s"] / ip["model_host"]["first"]["wall_s"], 3)
    if args.only in (None, "scheduler"):
        # --quick: the deployment with the model host alone (make up's and compose's)
        sch = results["scheduler"] = {} if args.quick else {
            "tasks": scheduler(work, sample, videos, with_host=False)}
        sch["model_host"] = scheduler(work, sample, videos, with_host=True, quick=args.quick)
        if "tasks" in sch:
            results["ratio_videos_model_host_over_tasks"] = round(
                sch["model_host"]["videos"]["wall_s"] / sch["tasks"]["videos"]["wall_s"], 3)
            results["videos_saved_s"] = round(sch["tasks"]["videos"]["wall_s"]
                                              - sch["model_host"]["videos"]["wall_s"], 2)
    print(json.dumps(results, indent=2))
    shutil.rmtree(work, ignore_errors=True)


def _duration(path: Path) -> float:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of",
                          "csv=p=0", str(path)], capture_output=True, text=True, check=True)
    return round(float(out.stdout), 2)


if __name__ == "__main__":
    main()
