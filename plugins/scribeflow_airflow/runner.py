"""Run a DAG once, in this process, with ``dag.test()`` (``scribeflow run`` and ``ingest``).

Usage: ``python -m scribeflow_airflow.runner --conf JSON --result PATH [--run-id ID]``;
``--prepare --result PATH`` only writes the DAG to the metadata database; or
``python -m scribeflow_airflow.runner --serve SOCKET``: the run host (:mod:`scribeflow.hosts.run_host`),
which imports Airflow once and forks a child that runs :func:`main` for each request.
Writes ``{"run_id": ..., "state": ...}`` to PATH. The Airflow environment (``AIRFLOW_HOME``,
the metadata database, the DAGs folder) must be set before this module is started, because
Airflow reads its configuration when it is first imported.

``--run-id`` gives the run a fixed id (``scribeflow ingest`` uses ``ingest__<video id>``, as
the channel DAGs do): a run of that id that succeeded is not run again, a failed one is
replaced. ``dag.test()`` has no run id argument in Airflow 3.3, so the id generator is
patched for the call.

What this process pays that the DAG's work does not (``bench/per_video_overhead.py``) is
kept small: only the DAG's own file is parsed, the in-process execution API builds its
routes for one API version (:func:`serve_one_api_version`), and the process ends without
the interpreter's teardown (:func:`exit_now`).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock

log = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> int:
    if argv is None and sys.argv[1:2] == ["--serve"] and len(sys.argv) == 3:
        serve(Path(sys.argv[2]), ready=lambda: print(f"run host ready at {sys.argv[2]}",
                                                     flush=True))
        return 0
    parser = argparse.ArgumentParser(prog="scribeflow_airflow.runner")
    parser.add_argument("--conf", help="the run's params as JSON")
    parser.add_argument("--prepare", action="store_true",
                        help="only write the DAG to the metadata database (before its runs "
                             "start at once)")
    parser.add_argument("--result", required=True, type=Path)
    parser.add_argument("--dag-id", default="video_pipeline")
    parser.add_argument("--run-id", help="a fixed run id (default: Airflow's manual__…)")
    args = parser.parse_args(argv)

    from airflow.configuration import conf as airflow_conf
    from airflow.models.dagrun import DagRun
    from airflow.utils.cli import get_bagged_dag

    own_file = Path(airflow_conf.get("core", "dags_folder")) / f"{args.dag_id}.py"
    dag = get_bagged_dag(bundle_names=None, dag_id=args.dag_id,
                         dagfile_path=str(own_file) if own_file.is_file() else None)
    if args.prepare:  # get_bagged_dag wrote it
        return _finish(args.result, None, "prepared")
    if args.conf is None:
        parser.error("--conf is required")
    serve_one_api_version()
    problem = _invalid(dag, json.loads(args.conf))
    if problem is not None:
        args.result.parent.mkdir(parents=True, exist_ok=True)
        args.result.write_text(json.dumps({"run_id": None, "state": "invalid", "error": problem}))
        return 2
    with contextlib.ExitStack() as stack:
        stack.enter_context(parsed_once(dag))
        if args.run_id is not None:
            previous = _previous_state(args.dag_id, args.run_id)
            if previous in ("success", "running", "queued"):
                return _finish(args.result, args.run_id, previous, reused=True)
            stack.enter_context(mock.patch.object(DagRun, "generate_run_id",
                                                  staticmethod(lambda **_: args.run_id)))
        run = dag.test(run_conf=json.loads(args.conf))
    state = str(getattr(run.state, "value", run.state))
    _note(args.dag_id, run.run_id, state)
    return _finish(args.result, run.run_id, state)


def parsed_once(dag) -> contextlib.AbstractContextManager:
    """While it is entered, ``dag.test()`` takes the DAG this process parsed and wrote to the
    metadata database (:func:`get_bagged_dag`, from the DAG's own file, as the dag-processor
    writes a file's DAGs) instead of parsing the whole DAGs folder and writing every DAG in it
    again: 0.7 s of every run (``bench/backlog_throughput.py``). Should Airflow's layout
    change, ``dag.test()`` parses the folder, as before."""
    from airflow.dag_processing import dagbag as dagbags

    if not all(hasattr(dagbags, name) for name in ("BundleDagBag", "sync_bag_to_db")):
        log.info("dag.test() parses the DAGs folder (Airflow's dagbag module changed)")
        return contextlib.nullcontext()
    stack = contextlib.ExitStack()
    bag = type("ParsedBag", (), {"dags": {dag.dag_id: dag}, "import_errors": {}})()
    stack.enter_context(mock.patch.object(dagbags, "BundleDagBag", lambda **_: bag))
    stack.enter_context(mock.patch.object(dagbags, "sync_bag_to_db", lambda *_, **__: None))
    return stack


def serve_one_api_version() -> None:
    """Have the in-process execution API build its routes for the one version its only client,
    the task SDK of this process, speaks.

    Airflow builds Cadwyn routers for every version of the execution API (eight in 3.3) on the
    first request of a ``dag.test()``: 4.8 s of a 20 s re-run here, before the first task
    starts; for one version it takes 0.9 s. The routes that exist only in older versions go
    with them. Should Airflow's layout change, the full API is served, as before."""
    try:
        from airflow.api_fastapi.execution_api import routes, versions
        from airflow.sdk.api.datamodels._generated import API_VERSION
        from cadwyn import HeadVersion, Version, VersionBundle
        from cadwyn.route_generation import _DELETED_ROUTE_TAG

        versions.bundle = VersionBundle(HeadVersion(), Version(API_VERSION))
        router = routes.execution_api_router
        router.routes = [r for r in router.routes
                         if _DELETED_ROUTE_TAG not in (getattr(r, "tags", None) or ())]
    except (ImportError, AttributeError) as exc:
        log.info("the in-process execution API serves all its versions (%s)", exc)


def serve(address: Path, ready: Callable[[], None] = lambda: None) -> None:
    """The run host on the Unix socket ``address`` until SIGTERM or ^C: Airflow imported once,
    a forked child per request (see :mod:`scribeflow.hosts.run_host`). It is one thread, so a fork
    never copies a lock another thread holds; children run side by side."""
    import selectors
    import signal
    import socket

    warm_up()
    address.unlink(missing_ok=True)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    umask = os.umask(0o177)  # the socket is its owner's alone
    try:
        listener.bind(str(address))
    finally:
        os.umask(umask)
    listener.listen(16)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    running: dict[int, Any] = {}  # a child's pid → its client's connection
    stopping: list[int] = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    ready()
    try:
        while not stopping:
            for key, _ in selector.select(timeout=0.05):
                if key.fileobj is listener:
                    _start_run(listener, selector, running)
                else:  # the client went away (^C): its run stops too
                    selector.unregister(key.fileobj)
                    _terminate(key.data)
            _reap(selector, running)
    except KeyboardInterrupt:
        pass
    finally:
        for pid in list(running):
            _terminate(pid)
        listener.close()
        address.unlink(missing_ok=True)


def warm_up() -> None:
    """Do what every run does before its first task and what does not depend on the run (the
    run host's children start from here): import Airflow's configuration, models and DAG bag,
    the libraries every video's tasks import (:mod:`scribeflow_airflow.preload`), the task
    SDK (with the names DAG files import from ``airflow.sdk``) and its in-process
    supervisor; build the execution API app, for one version (:func:`serve_one_api_version`),
    with its routes. Nothing here opens a database connection or starts a thread: the app's
    event loop thread starts with a child's first request."""
    import airflow.dag_processing.dagbag  # noqa: F401
    import airflow.models.dagrun  # noqa: F401
    import airflow.sdk
    import airflow.sdk.execution_time.task_runner  # noqa: F401
    import airflow.serialization.serialized_objects  # noqa: F401
    import airflow.utils.cli  # noqa: F401
    from airflow.sdk.execution_time.supervisor import in_process_api_server

    for name in ("dag", "task", "Param", "DAG", "Asset", "Variable"):  # resolved on first use
        getattr(airflow.sdk, name, None)
    from scribeflow_airflow.preload import task_libraries

    task_libraries()
    serve_one_api_version()
    app = in_process_api_server().app
    try:  # Cadwyn builds the versioned routes on the app's first request otherwise
        if not app._cadwyn_initialized:
            app._cadwyn_initialize()
    except AttributeError as exc:
        log.info("the execution API's routes are built with the first request (%s)", exc)


def _start_run(listener: Any, selector: Any, running: dict[int, Any]) -> None:
    """Read one request and fork its run; refuse it when its Airflow settings are not ours.
    A status request is answered at once."""
    import select
    import selectors
    import socket
    from multiprocessing.connection import Connection

    from scribeflow.hosts.run_host import HELLO, differences

    sock, _ = listener.accept()
    fds: list[int] = []
    conn = request = None
    try:
        if select.select([sock], [], [], 10)[0]:
            hello, fds, _, _ = socket.recv_fds(sock, len(HELLO), 1)
            conn = Connection(sock.detach())
            if hello == HELLO and len(fds) == 1 and conn.poll(10):
                request = json.loads(conn.recv_bytes(1 << 24))
    except (OSError, EOFError, ValueError) as exc:
        log.warning("run host: a request could not be read: %s", exc)
    refused = None
    if isinstance(request, dict) and request.get("status"):
        for fd in fds:
            os.close(fd)
        _answer(conn, {"status": {"pid": os.getpid(), "running": len(running), "differs":
                                  differences(os.environ, request.get("env") or {})}})
        return
    if not isinstance(request, dict):
        refused = "not a run request"
    elif problems := differences(os.environ, request.get("env") or {}):
        refused = "its Airflow settings differ from the host's: " + ", ".join(problems)
    if refused is not None:
        for fd in fds:
            os.close(fd)
        if conn is None:  # nothing came: the socket was never handed to a connection
            sock.close()
        else:
            _answer(conn, {"refused": refused})
        return
    pid = os.fork()
    if pid == 0:
        _run_child(request, fds[0], [listener, conn, *running.values()])
    os.close(fds[0])
    running[pid] = conn
    selector.register(conn, selectors.EVENT_READ, data=pid)


def _run_child(request: dict, output: int, inherited: list[Any]) -> None:
    """In the forked child: the request's environment, folder and output, then :func:`main`."""
    import signal
    import traceback

    code = 1
    try:
        for resource in inherited:
            resource.close()
        os.setpgid(0, 0)  # its own group: a client's ^C stops the run and what it started
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.dup2(output, 1)
        os.dup2(output, 2)
        os.close(output)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.argv = [__file__, *request["argv"]]
        print(f"run host: this run is process {os.getpid()}, forked with Airflow imported",
              flush=True)
        code = main(list(request["argv"]))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # noqa: BLE001 - the child reports and exits, whatever happened
        traceback.print_exc()
    exit_now(code)


def _reap(selector: Any, running: dict[int, Any]) -> None:
    """Answer the clients of the children that exited with their exit codes."""
    while running:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        conn = running.pop(pid, None)
        if conn is not None:
            with contextlib.suppress(KeyError, ValueError):  # unless its client went away
                selector.unregister(conn)
            _answer(conn, {"code": os.waitstatus_to_exitcode(status)})


def _answer(conn: Any, message: dict) -> None:
    try:
        conn.send_bytes(json.dumps(message).encode())
    except OSError:  # the client went away
        pass
    finally:
        conn.close()


def _terminate(pid: int) -> None:
    import signal

    try:
        os.killpg(pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        pass


def exit_now(code: int) -> None:
    """End the process once its output is flushed: the interpreter's own teardown of what a
    run imported (torch, the execution API's threads) took 4.5 s after the run had ended.
    Everything this process writes is written atomically and closed before this."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _note(dag_id: str, run_id: str, state: str) -> None:
    """The run's outcome as its note in the UI, as the listener writes it under the scheduler
    (``dag.test`` hands the listener a run detached from its session)."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    from scribeflow_airflow.notes import note_for

    with create_session() as session:
        run = session.scalar(select(DagRun).where(DagRun.dag_id == dag_id,
                                                  DagRun.run_id == run_id))
        if run is not None and (note := note_for(run, state)) is not None:
            run.note = note


def _invalid(dag, conf: dict) -> str | None:
    """Why ``conf`` cannot start a run (the DAG's params, then the settings), in one line."""
    from scribeflow.core.config import RUN_PARAMS
    from scribeflow.core.errors import ConfigError, one_line
    from scribeflow_airflow.tasks import settings_from_params

    try:
        if dag.dag_id == "video_pipeline":  # the settings' causes first: they name the fix
            settings_from_params({k: conf[k] if k in conf else dag.params.get(k)
                                  for k in RUN_PARAMS})
        params = copy.deepcopy(dag.params)  # setting a value resolves (validates) its Param
        params.update(conf)
        params.validate()
    except ConfigError as exc:
        return str(exc)
    except Exception as exc:  # Airflow's ParamValidationError: the first line is the cause
        return one_line(str(exc).strip().splitlines()[0] if str(exc).strip() else exc)
    return None


def _previous_state(dag_id: str, run_id: str) -> str | None:
    """The state of an earlier run of this id; a failed one is deleted so it can run again."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        run = session.scalar(select(DagRun).where(DagRun.dag_id == dag_id,
                                                  DagRun.run_id == run_id))
        if run is None:
            return None
        state = str(getattr(run.state, "value", run.state))
        if state not in ("success", "running", "queued"):
            session.delete(run)
        return state


def _finish(result: Path, run_id: str | None, state: str, reused: bool = False) -> int:
    result.parent.mkdir(parents=True, exist_ok=True)
    result.write_text(json.dumps({"run_id": run_id, "state": state, "reused": reused}))
    return 0 if state in ("success", "prepared") else 1


if __name__ == "__main__":
    exit_now(main())
