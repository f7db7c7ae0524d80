"""Running a DAG for a command: ``dag.test()`` in a child process, or a forked child of the
run host; the run's log file and its summary."""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from scribeflow.core.config import DeploymentSettings, PipelineSettings
from scribeflow.core.errors import ScribeflowError
from scribeflow.core.files import DataPaths, read_json
from scribeflow.hosts.airflow_home import ensure_metadata_db
from scribeflow.pipeline.summary import RunSummary, read_run_summary, summary_key


@dataclass(frozen=True)
class VideoRun:
    code: int
    run_id: str | None
    state: str
    summary: RunSummary
    summary_path: Path | str | None  # a URL with the data on object storage
    log_file: Path
    reused: bool = False


#: Tells apart the log files of runs a process starts in the same microsecond (ingest's
#: runs at once).
_LOGS = itertools.count()


def new_log_file(data: DataPaths) -> Path:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
    return data.root / "logs" / f"run-{stamp}-{os.getpid()}-{next(_LOGS)}.log"


def run_video(conf: dict, env: dict[str, str], data: DataPaths, *, run_id: str | None = None,
              verbose: bool = False, log_file: Path | None = None) -> VideoRun:
    """Run ``video_pipeline`` once in a child process (``dag.test()``), logging to
    ``log_file`` (under ``data/logs/``); the run's summary as the tasks wrote it."""
    log_file = log_file or new_log_file(data)
    code, run = run_dag("video_pipeline", conf, env, log_file, run_id=run_id, verbose=verbose)
    if run is None:
        return VideoRun(code=code or 2, run_id=None, state="not started",
                        summary=RunSummary(status="not started"),
                        summary_path=None, log_file=log_file)
    if run.get("error"):
        return VideoRun(code=2, run_id=None, state="invalid",
                        summary=RunSummary(status="invalid", error={"cause": run["error"],
                                                                     "step": "start"}),
                        summary_path=None, log_file=log_file)
    settings = PipelineSettings.from_env({"data_dir": env.get("SCRIBEFLOW_DATA") or data.root})
    summary_path = (f"{settings.data_url}/{summary_key(run['run_id'])}" if settings.data_url
                    else data.run_summary(run["run_id"]))
    try:
        summary = read_run_summary(settings, run["run_id"]) or RunSummary(status=run["state"])
    except ScribeflowError as exc:  # the bucket went away during the run
        summary = RunSummary(status=run["state"], error={"cause": str(exc), "step": "summary"})
    if not (run["state"] == "success" and summary.status == "degraded"):
        summary = replace(summary, status=run["state"])
    return VideoRun(code=code, run_id=run["run_id"], state=run["state"], summary=summary,
                    summary_path=summary_path, log_file=log_file, reused=run.get("reused", False))


def run_dag(dag_id: str, conf: dict, env: dict[str, str], log_file: Path, *,
            run_id: str | None = None, verbose: bool = False) -> tuple[int, dict | None]:
    """Run ``dag_id`` once (``dag.test()``) in a child process, or in a child of the run host
    ``$SCRIBEFLOW_RUN_HOST`` names, logging to ``log_file``: the exit code and
    ``{"run_id", "state"}`` (``{"error"}`` for params it refused), or None when it did not
    start."""
    argv = ["--dag-id", dag_id, "--conf", json.dumps(conf)]
    return _runner(argv + (["--run-id", run_id] if run_id else []), env, log_file, verbose)


def prepare_dag(dag_id: str, env: dict[str, str], log_file: Path) -> None:
    """Write ``dag_id`` to the metadata database before its runs start at once (each run
    writes its DAG as it starts, and two first writes at once collide on the unique names of
    the assets it names). Raises :class:`ScribeflowError` when it cannot be parsed."""
    code, done = _runner(["--dag-id", dag_id, "--prepare"], env, log_file, False)
    if code != 0 or not done:
        raise ScribeflowError(f"the DAG {dag_id} could not be written to the metadata database "
                              f"(see {log_file})")


def _runner(argv: list[str], env: dict[str, str], log_file: Path, verbose: bool
            ) -> tuple[int, dict | None]:
    """``scribeflow_airflow.runner`` with ``argv`` on the run host, or in a process of its
    own: its exit code and the result it wrote."""
    result_file = log_file.with_suffix(".result.json")
    log_file.parent.mkdir(parents=True, exist_ok=True)
    ensure_metadata_db(env, log_file)
    argv = [*argv, "--result", str(result_file)]
    command = [sys.executable, "-m", "scribeflow_airflow.runner", *argv]
    with open(log_file, "a") as log:
        code = _run_on_host(argv, env, log, verbose)
        if code is None and verbose:
            proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True)
            _show_and_log(proc.stdout, log)
            code = proc.wait()
        elif code is None:
            code = subprocess.run(command, env=env, stdout=log, stderr=log).returncode
    return code, read_json(result_file) if result_file.exists() else None


def _show_and_log(lines: Any, log: Any) -> None:
    """A verbose run's output, line by line to the terminal and the log, until it ends."""
    with lines:
        for line in lines:
            sys.stdout.write(line)
            log.write(line)


def _run_on_host(argv: list[str], env: dict[str, str], log: Any, verbose: bool) -> int | None:
    """The runner's exit code, run on the run host ``$SCRIBEFLOW_RUN_HOST`` names
    (:mod:`scribeflow.hosts.run_host`, Airflow already imported there), or None when there is none
    to take it: then the log says why in one line and the caller starts a runner itself."""
    import threading

    from scribeflow.hosts.run_host import RunHostUnavailable, run_on_host

    address = DeploymentSettings.from_env(env).run_host
    if not address:
        return None
    log.flush()
    try:
        if not verbose:
            return run_on_host(address, argv, env, log.fileno())
        read, write = os.pipe()  # the run's output, shown and logged as it comes
        shown = threading.Thread(target=lambda: _show_and_log(open(read, errors="replace"), log),
                                 name="scribeflow-run-output")
        shown.start()
        try:
            return run_on_host(address, argv, env, write)
        finally:
            os.close(write)
            shown.join()
    except RunHostUnavailable as exc:
        log.write(f"{exc}; running in a new process\n")
        log.flush()
        return None


def run_host_command(socket: Path) -> list[str]:
    """The command that runs a run host on ``socket`` (``scribeflow_airflow.runner --serve``)."""
    return [sys.executable, "-m", "scribeflow_airflow.runner", "--serve", str(socket)]


@contextlib.contextmanager
def own_hosts(env: dict[str, str], meanwhile: Callable[[], None] = lambda: None
              ) -> Iterator[dict[str, str]]:
    """``env`` with a model host and a run host of this command's own for the runs it starts,
    both stopped at the end: whisper, the speaker model and the embedding model are loaded
    once for all the runs (``scribeflow models serve --warm``: the speaker and embedding
    models while the first runs download and transcribe, whisper's on first use), and Airflow
    is imported once (:mod:`scribeflow.hosts.run_host`). The two start at once, ``meanwhile``
    runs while they do, and they are stopped at once.

    A host configured already (``SCRIBEFLOW_MODEL_HOST``, ``SCRIBEFLOW_RUN_HOST``) is used as
    it is. One that does not start within a minute is left out: each run then loads its own
    models (with one line on stderr) or starts its own runner."""
    hosts: dict[str, _OwnHost] = {}
    try:
        if not env.get("SCRIBEFLOW_MODEL_HOST"):
            hosts["SCRIBEFLOW_MODEL_HOST"] = _OwnHost(
                "models", lambda socket: [sys.executable, "-m", "scribeflow.cli.main", "models",
                                          "serve", "--socket", str(socket), "--warm"],
                env, warn="each run loads its own models")
        if not DeploymentSettings.from_env(env).run_host:
            hosts["SCRIBEFLOW_RUN_HOST"] = _OwnHost("runs", run_host_command, env)
        meanwhile()
        started = {name: str(socket) for name, host in hosts.items()
                   if (socket := host.ready()) is not None}
        yield env | started
    finally:
        for host in hosts.values():
            host.process.terminate()
        for host in hosts.values():
            host.close()


class _OwnHost:
    """A host process (``command(socket)``) for a command's runs, started at once."""

    def __init__(self, kind: str, command: Callable[[Path], list[str]], env: dict[str, str],
                 warn: str | None = None):
        import tempfile
        import time

        self.kind, self.warn = kind, warn
        self.folder = Path(tempfile.mkdtemp(prefix=f"scribeflow-{kind}-"))
        self.socket = self.folder / f"{kind}.sock"
        with open(self.folder / "host.log", "w") as log:
            self.process = subprocess.Popen(command(self.socket), env=env, stdout=log,
                                            stderr=subprocess.STDOUT)
        self.deadline = time.monotonic() + 60

    def ready(self) -> Path | None:
        """Its socket once it is bound (the host serves), or None when it did not bind within
        a minute (with one line on stderr saying ``warn``, when given)."""
        import time

        while (not self.socket.exists() and self.process.poll() is None
               and time.monotonic() < self.deadline):
            time.sleep(0.05)
        if not self.socket.exists() and self.warn:
            tail = (self.folder / "host.log").read_text(errors="replace").strip().splitlines()
            print(f"warning: the {self.kind} host did not start "
                  f"({tail[-1] if tail else 'no output'}): {self.warn}",
                  file=sys.stderr, flush=True)
        return self.socket if self.socket.exists() else None

    def close(self) -> None:
        """Wait up to 30 s for it to end after SIGTERM, then kill it; its folder removed."""
        import shutil

        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)
