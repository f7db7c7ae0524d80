"""The start-up cost of one mapped task instance on LocalExecutor, and what grouping saves.

Runs two DAGs with ``dag.test(use_executor=True)`` on LocalExecutor (parallelism 4, SQLite),
each doing the same trivial work on N items: ``bench_mapped`` maps one task instance per
item, ``bench_single`` does all items in one task. The difference, divided by the extra
task instances, is the per-instance overhead that chunk grouping avoids.
Usage: python bench/mapped_task_overhead.py [--items 16] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

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

CHILD = textwrap.dedent('''
    import json, sys, time
    from airflow.utils.cli import get_bagged_dag
    out = {}
    for dag_id in sys.argv[1:]:
        dag = get_bagged_dag(bundle_names=None, dag_id=dag_id)
        started = time.perf_counter()
        run = dag.test(use_executor=True)
        out[dag_id] = {"seconds": time.perf_counter() - started, "state": str(run.state)}
    print("RESULT " + json.dumps(out))
''')


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(url: str, timeout_s: float = 90) -> None:
    import time
    import urllib.request

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer in {timeout_s} s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=16)
    parser.add_argument("--quick", action="store_true", help="8 items")
    args = parser.parse_args()
    n = 8 if args.quick else args.items
    home = Path(tempfile.mkdtemp(prefix="bench-mapped-"))
    (home / "dags").mkdir()
    (home / "dags" / "bench_dags.py").write_text(DAGS)
    env = os.environ | {
        "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        "BENCH_ITEMS": str(n),
    }
    port = _free_port()
    env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] = f"http://127.0.0.1:{port}/execution/"
    airflow = str(Path(sys.executable).with_name("airflow"))
    subprocess.run([airflow, "db", "migrate"], env=env, check=True, capture_output=True)
    # LocalExecutor's task processes talk to the execution API, so one must be up.
    api = subprocess.Popen([airflow, "api-server", "--host", "127.0.0.1", "--port", str(port)],
                           env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for(f"http://127.0.0.1:{port}/api/v2/monitor/health")
        proc = subprocess.run([sys.executable, "-c", CHILD, "bench_single", "bench_mapped"],
                              env=env, capture_output=True, text=True, check=True)
    finally:
        api.terminate()
        api.wait(timeout=30)
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT "))
    runs = json.loads(line.removeprefix("RESULT "))
    single, mapped = runs["bench_single"]["seconds"], runs["bench_mapped"]["seconds"]
    print(json.dumps({
        "items": n, "executor": "LocalExecutor", "parallelism": 4,
        "single_task_s": round(single, 2), "mapped_s": round(mapped, 2),
        "states": {k: v["state"] for k, v in runs.items()},
        "overhead_per_mapped_instance_s": round((mapped - single) / (n - 1), 3),
        "ratio_mapped_over_single": round(mapped / single, 2),
    }, indent=2))


if __name__ == "__main__":
    main()
