"""Run a DAG once, in this process, with ``dag.test()`` (``scribeflow run`` and ``ingest``).

Usage: ``python -m scribeflow_airflow.runner --conf JSON --result PATH [--run-id ID]``.
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
import copy
import json
import logging
import os
import sys
from pathlib import Path
from unittest import mock

log = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scribeflow_airflow.runner")
    parser.add_argument("--conf", required=True, help="the run's params as JSON")
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
    serve_one_api_version()
    problem = _invalid(dag, json.loads(args.conf))
    if problem is not None:
        args.result.parent.mkdir(parents=True, exist_ok=True)
        args.result.write_text(json.dumps({"run_id": None, "state": "invalid", "error": problem}))
        return 2
    if args.run_id is None:
        run = dag.test(run_conf=json.loads(args.conf))
    else:
        previous = _previous_state(args.dag_id, args.run_id)
        if previous in ("success", "running", "queued"):
            return _finish(args.result, args.run_id, previous, reused=True)
        with mock.patch.object(DagRun, "generate_run_id", staticmethod(lambda **_: args.run_id)):
            run = dag.test(run_conf=json.loads(args.conf))
    state = str(getattr(run.state, "value", run.state))
    _note(args.dag_id, run.run_id, state)
    return _finish(args.result, run.run_id, state)


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
    from scribeflow.errors import ConfigError, one_line
    from scribeflow_airflow.tasks import PARAM_SETTINGS, settings_from_params

    try:
        params = copy.deepcopy(dag.params)  # setting a value resolves (validates) its Param
        params.update(conf)
        resolved = params.validate()
        if dag.dag_id == "video_pipeline":
            settings_from_params({k: resolved.get(k) for k in PARAM_SETTINGS})
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


def _finish(result: Path, run_id: str, state: str, reused: bool = False) -> int:
    result.parent.mkdir(parents=True, exist_ok=True)
    result.write_text(json.dumps({"run_id": run_id, "state": state, "reused": reused}))
    return 0 if state == "success" else 1


if __name__ == "__main__":
    exit_now(main())
