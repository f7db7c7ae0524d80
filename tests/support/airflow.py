"""Airflow's own services started for real in tests: their environment, their processes
(each in its own process group, stopped with everything it started), and a login."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from scribeflow.hosts.airflow_home import SCHEDULER_IDLE_SLEEP_S
from support.http import json_request

ROOT = Path(__file__).resolve().parents[2]
AIRFLOW = str(Path(sys.executable).with_name("airflow"))


#: Scribeflow settings of the machine, not of a test: kept (tests/conftest.py sets the suite's).
MACHINE_SETTINGS = ("SCRIBEFLOW_WHISPER_THREADS",)


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without LLM or Scribeflow settings (but the machine's:
    :data:`MACHINE_SETTINGS`), plus ``extra``."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OPENAI_", "SCRIBEFLOW_", "AIRFLOW_CONN_"))
           or k in MACHINE_SETTINGS}
    return env | {"HF_HUB_OFFLINE": "1"} | extra


def service_env(home: Path, *, api_port: int, executor: str, database: str,
                **extra: str) -> dict[str, str]:
    """The environment every service of one test deployment shares."""
    return clean_env(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(ROOT / "dags"),
        AIRFLOW__CORE__PLUGINS_FOLDER=str(ROOT / "plugins"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__EXECUTOR=executor,
        AIRFLOW__CORE__PARALLELISM="4",
        AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME=SCHEDULER_IDLE_SLEEP_S,  # as deployed
        AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="False",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=database,
        AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"http://127.0.0.1:{api_port}/execution/",
        AIRFLOW__API__HOST="127.0.0.1",
        AIRFLOW__API__PORT=str(api_port),
        AIRFLOW__API_AUTH__JWT_SECRET=uuid.uuid4().hex,
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="admin:admin",
        PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        PYTHONPATH=str(ROOT / "plugins"),
    ) | extra


def prepare(env: dict[str, str], pools: tuple[str, ...] = ("llm", "downloads")) -> None:
    """Migrate the metadata database and create the pools."""
    Path(env["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
    subprocess.run([AIRFLOW, "db", "migrate"], env=env, check=True, capture_output=True)
    for pool in pools:
        subprocess.run([AIRFLOW, "pools", "set", pool, "4", pool], env=env, check=True,
                       capture_output=True)


@contextmanager
def services(commands: dict[str, list[str]], env: dict[str, str], logs_dir: Path,
             env_for: Callable[[str], dict[str, str]] | None = None
             ) -> Iterator[tuple[dict[str, subprocess.Popen], dict[str, Path]]]:
    """Start ``airflow <args>`` per name, logging to ``logs_dir/<name>.log``; on exit stop
    each with SIGTERM, then SIGKILL, and kill whatever it left in its process group."""
    processes: dict[str, subprocess.Popen] = {}
    logs = {name: logs_dir / f"{name}.log" for name in commands}
    try:
        for name, args in commands.items():
            processes[name] = spawn(args, env | (env_for(name) if env_for else {}), logs[name])
        yield processes, logs
    finally:
        for process in processes.values():
            _signal(process, signal.SIGTERM)
        for process in processes.values():
            _stop(process)
        for process in processes.values():  # nothing it started is left running
            _signal(process, signal.SIGKILL)


def _stop(process: subprocess.Popen, tries: int = 6, every_s: float = 10.0) -> None:
    """Wait for a service signalled with SIGTERM to end, signalling it again every
    ``every_s`` seconds, then SIGKILL. Again, because Airflow's scheduler raises ``SystemExit``
    from its SIGTERM handler wherever the main thread is, and when that is a garbage
    collector's weakref callback (SQLAlchemy's ``_collection_gced``) Python prints the
    exception and goes on: the scheduler kept scheduling, and the test's teardown waited
    its whole minute (every run of the channels module, twice in two)."""
    for _ in range(tries):
        try:
            process.wait(timeout=every_s)
            return
        except subprocess.TimeoutExpired:
            _signal(process, signal.SIGTERM)
    _signal(process, signal.SIGKILL)
    process.wait(timeout=30)


def spawn(args: list[str], env: dict[str, str], log: Path, mode: str = "w") -> subprocess.Popen:
    """``airflow <args>`` in its own process group, writing (or, with mode ``a``, appending)
    to ``log``."""
    with open(log, mode) as out:
        return subprocess.Popen([AIRFLOW, *args], env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


def kill_tree(process: subprocess.Popen) -> list[int]:
    """SIGKILL a service and every process it started, task processes in process groups of
    their own included: what a container or host dying does. Returns the pids killed."""
    import psutil

    root = psutil.Process(process.pid)
    tree = [root, *root.children(recursive=True)]
    for proc in tree:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    process.wait(timeout=30)
    psutil.wait_procs(tree[1:], timeout=30)
    return [proc.pid for proc in tree]


def _signal(process: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass


def login(base: str, home: Path, processes: dict[str, subprocess.Popen], logs: dict[str, Path],
          ready: Callable[[], bool] = lambda: True, timeout: float = 180) -> str:
    """A JWT for the admin user once the API answers and ``ready()`` holds; fails early with
    the log of any service that died."""
    deadline = time.monotonic() + timeout
    while True:
        dead = [n for n, p in processes.items() if p.poll() is not None]
        assert not dead, {n: logs[n].read_text()[-3000:] for n in dead}
        assert time.monotonic() < deadline, "the Airflow services did not become ready"
        try:
            passwords = json.loads((home / "simple_auth_manager_passwords.json.generated")
                                   .read_text())
            status, body = json_request(f"{base}/auth/token", data={
                "username": "admin", "password": passwords["admin"]})
            if status in (200, 201) and ready():
                return body["access_token"]
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(2)
