"""The start-up cost of one mapped task instance under Airflow's scheduler, and what grouping
saves.

Starts the services of a one-host deployment (``api-server``, ``scheduler`` with
LocalExecutor at parallelism 4, ``dag-processor``; SQLite) and triggers two DAGs doing the
same trivial work on N items, one after the other: ``bench_mapped`` maps one task instance
per item, ``bench_single`` does all items in one task. Each run's time is its span in the
metadata database (start to end, as the scheduler recorded it); the difference, divided by
the extra task instances, is the per-instance overhead that chunk grouping avoids.
(``dag.test(use_executor=True)`` is not used: its LocalExecutor shutdown can wait forever on
a worker that never got its stop message, which hung this benchmark on a loaded machine.)
Usage: python bench/mapped_task_overhead.py [--items 16] [--rounds 5] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from datetime import datetime
from pathlib import Path

DAGS = textwrap.dedent('''
    import os
    import pendulum
    from airflow.sdk import dag, task

    N = int(os.environ["BENCH_ITEMS"])
    START = pendulum.datetime(2024, 1, 1, tz="UTC")

    @task
    def items():
        return list(range(N))

    @task
    def work(i):
        return i * 2

    @task
    def work_all(xs):
        return [x * 2 for x in xs]

    @task
    def done(xs):
        return len(list(xs))

    @dag(schedule=None, start_date=START, catchup=False, tags=["bench"])
    def bench_mapped():
        done(work.expand(i=items()))

    @dag(schedule=None, start_date=START, catchup=False, tags=["bench"])
    def bench_single():
        done(work_all(items()))

    bench_mapped()
    bench_single()
''')


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _query(db: Path, sql: str, *args) -> list[tuple]:
    with sqlite3.connect(db, timeout=30) as conn:
        return conn.execute(sql, args).fetchall()


def _wait(what: str, check, services: dict[str, subprocess.Popen], logs: Path,
          timeout_s: float):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        dead = [name for name, proc in services.items() if proc.poll() is not None]
        if dead:
            raise RuntimeError(f"{dead[0]} exited: "
                               + (logs / f"{dead[0]}.log").read_text()[-2000:])
        try:
            found = check()
        except sqlite3.OperationalError:  # a table not migrated yet, or locked for a moment
            found = None
        if found:
            return found
        time.sleep(0.2)
    raise TimeoutError(f"{what}: not within {timeout_s} s")


def _span(start: str, end: str) -> float:
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def _run_once(airflow: str, env: dict, db: Path, dag_id: str, n: int,
              services: dict[str, subprocess.Popen], logs: Path) -> dict:
    run_id = f"bench__{uuid.uuid4().hex[:12]}"
    subprocess.run([airflow, "dags", "trigger", dag_id, "--run-id", run_id], env=env,
                   check=True, capture_output=True)
    state, start, end = _wait(
        f"{dag_id} {run_id}",
        lambda: next(iter(_query(db, "SELECT state, start_date, end_date FROM dag_run "
                                     "WHERE dag_id = ? AND run_id = ? AND state IN "
                                     "('success', 'failed')", dag_id, run_id)), None),
        services, logs, timeout_s=240)
    instances = _query(db, "SELECT count(*) FROM task_instance WHERE dag_id = ? AND run_id = ? "
                           "AND state = 'success'", dag_id, run_id)[0][0]
    expected = n + 2 if dag_id == "bench_mapped" else 3
    if state != "success" or instances != expected:
        raise RuntimeError(f"{dag_id} {run_id} ended {state} with {instances} of {expected} "
                           f"task instances done; see {logs}")
    return {"seconds": _span(start, end), "task_instances": instances}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="8 items, one round")
    args = parser.parse_args()
    n, rounds = (8, 1) if args.quick else (args.items, args.rounds)
    home = Path(tempfile.mkdtemp(prefix="bench-mapped-"))
    (home / "dags").mkdir()
    (home / "dags" / "bench_dags.py").write_text(DAGS)
    db = home / "airflow.db"
    port = _free_port()
    env = os.environ | {
        "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{db}",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__API__PORT": str(port), "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API_AUTH__JWT_SECRET": uuid.uuid4().hex,
        "BENCH_ITEMS": str(n),
    }
    airflow = str(Path(sys.executable).with_name("airflow"))
    subprocess.run([airflow, "db", "migrate"], env=env, check=True, capture_output=True)
    logs = home / "logs"
    logs.mkdir(exist_ok=True)
    services: dict[str, subprocess.Popen] = {}
    try:
        for name in ("api-server", "scheduler", "dag-processor"):
            with open(logs / f"{name}.log", "w") as out:
                services[name] = subprocess.Popen(
                    [airflow, name], env=env, stdout=out, stderr=subprocess.STDOUT,
                    start_new_session=True)
        _wait("both DAGs parsed", lambda: len(_query(
            db, "SELECT dag_id FROM serialized_dag WHERE dag_id LIKE 'bench_%'")) == 2,
            services, logs, timeout_s=180)
        runs: dict[str, list[dict]] = {"bench_single": [], "bench_mapped": []}
        # warm-up: the first run of a deployment pays one-off costs (DAG bundle, connections)
        _run_once(airflow, env, db, "bench_single", n, services, logs)
        for _ in range(rounds):  # alternate, so drift on a shared machine hits both sides
            for dag_id in runs:
                runs[dag_id].append(_run_once(airflow, env, db, dag_id, n, services, logs))
    finally:
        for proc in services.values():
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for proc in services.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
    single = statistics.median(r["seconds"] for r in runs["bench_single"])
    mapped = statistics.median(r["seconds"] for r in runs["bench_mapped"])
    print(json.dumps({
        "items": n, "rounds": rounds, "executor": "LocalExecutor (scheduler)", "parallelism": 4,
        "single_task_s": round(single, 2), "mapped_s": round(mapped, 2),
        "runs_s": {k: [round(r["seconds"], 2) for r in v] for k, v in runs.items()},
        "task_instances": {k: v[0]["task_instances"] for k, v in runs.items()},
        "overhead_per_mapped_instance_s": round((mapped - single) / (n - 1), 3),
        "ratio_mapped_over_single": round(mapped / single, 2),
    }, indent=2))


if __name__ == "__main__":
    main()
