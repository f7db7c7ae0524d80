"""Task callables of the ``channel__<name>`` DAGs (``dags/channels.py``).

``list_new_videos`` lists the source for the run's data interval and returns one set of
``TriggerDagRunOperator`` arguments per video to process; ``record_triggers`` reads back what
the mapped triggers did and completes the ingest summary
(``runs/channel__<name>/<run_id>/summary.json``).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from airflow.sdk import get_current_context

from scribeflow.core.config import PipelineSettings
from scribeflow.core.errors import BadInputError, BlockedError, ConfigError
from scribeflow.core.files import DataPaths, safe_name
from scribeflow.pipeline.ingest import Window, entry_conf, list_source, stored_lookup
from scribeflow.pipeline.ingest_records import (
    PastRun,
    failure,
    past_run_from_summary,
    read_ingest_summary,
    write_ingest_summary,
)
from scribeflow.sources.catalog import Source, load_sources
from scribeflow_airflow.failures import fail

log = logging.getLogger(__name__)
VIDEO_DAG = "video_pipeline"
LIST_TASK = "list_new_videos"
TRIGGER_TASK = "trigger_video_pipeline"


def list_new_videos(source_name: str) -> list[dict[str, Any]]:
    """List the source over this run's data interval; the kwargs of one trigger per video."""
    context = get_current_context()
    run_id = context["run_id"]
    folder = safe_name(source_name)
    with _data([f"sources/{folder}", "blocks", f"runs/channel__{folder}/{safe_name(run_id)}"]
               ) as data:
        return _list_new_videos(source_name, context, data)


@contextmanager
def _data(folders: list[str]) -> Iterator[DataPaths]:
    """The data folder; on object storage, a working copy of ``folders`` whose locked
    updates go to the bucket (the source's state, blocks, the ingest summary)."""
    from scribeflow.core.objects import working_copy
    from scribeflow_airflow.hooks import open_data_storage

    settings = PipelineSettings.from_env()
    open_data_storage(settings)
    with working_copy(settings, folders, label="channel") as data:
        yield data


def _list_new_videos(source_name: str, context: Any, data: DataPaths) -> list[dict[str, Any]]:
    from scribeflow_airflow.hooks import cookies_text

    run_id, dag_id = context["run_id"], context["dag"].dag_id
    now = dt.datetime.now(dt.UTC)
    start, end = context.get("data_interval_start"), context.get("data_interval_end")
    window = (Window.of_interval(start, end, now) if start is not None and end is not None
              else Window(None, None, live=True))
    write_ingest_summary(data, source_name, run_id, dag_id=dag_id, status="running",
                         window=window.to_dict(), error=None)
    try:
        source = load_sources().get(source_name)
        write_ingest_summary(data, source_name, run_id, url=source.url)
        plan = list_source(source, window, data, run_id,
                           cookies=cookies_text(source.cookies_conn_id),
                           cookies_label=f"connection {source.cookies_conn_id!r}",
                           past_run=_past_run(context["ti"], data), stored=_stored(source),
                           now=now)
    except (BadInputError, ConfigError, BlockedError) as exc:
        write_ingest_summary(data, source_name, run_id, status="failed", error=failure(exc))
        log.error("%s failed: %s", dag_id, exc)
        fail(str(exc))
    except Exception as exc:
        write_ingest_summary(data, source_name, run_id, status="failed", error=failure(exc))
        raise
    for warning in plan.warnings:
        log.warning("%s", warning)
    summary = plan.summary()
    log.info("%s over %s: %d found (%d listing requests), %d to trigger, skipped %s, "
             "deferred %s", source.name, window.to_dict(), summary["found"],
             summary["listing_requests"], len(plan.to_trigger), summary["skipped"],
             summary["deferred"])
    if plan.backoff is not None:
        log.warning("backing off until %s: %s", plan.backoff.until.isoformat(), plan.backoff.cause)
    return [_trigger_kwargs(source, decision) for decision in plan.to_trigger]


def _past_run(ti: Any, data: DataPaths) -> Callable[[str], PastRun | None]:
    """A video run's state from Airflow (the truth, queued runs included), its failure's kind
    and source from its summary."""

    def past_run(run_id: str) -> PastRun | None:
        recorded = past_run_from_summary(data, run_id)
        if not ti.get_dr_count(dag_id=VIDEO_DAG, run_ids=[run_id]):
            return recorded  # a run made elsewhere (scribeflow ingest) leaves only its summary
        state = str(ti.get_dagrun_state(dag_id=VIDEO_DAG, run_id=run_id))
        if recorded is None:
            return PastRun(state=state)
        return PastRun(state=state, kind=recorded.kind if state == "failed" else None,
                       cause=recorded.cause, source=recorded.source)

    return past_run


def _stored(source: Source) -> Callable[[str], bool]:
    from scribeflow_airflow.hooks import pgvector_dsn

    settings = PipelineSettings.from_env({"store": source.store})
    return stored_lookup(settings, pgvector_dsn() if settings.store == "pgvector" else None)


def _trigger_kwargs(source: Source, decision: Any) -> dict[str, Any]:
    entry = decision.entry
    when = f"published {entry.published:%Y-%m-%d %H:%M} UTC" if entry.published else "undated"
    return {
        "trigger_run_id": decision.run_id,
        "conf": entry_conf(source, entry),
        "reset_dag_run": decision.action == "retry",
        "note": f"{source.dag_id}: {entry.title[:200]} ({when})",
    }


def record_triggers() -> dict[str, Any]:
    """What the mapped triggers did: triggered, already there (skipped) or failed.

    It runs whatever happened upstream (``all_done``) so that the summary is complete, and
    fails when the listing failed: such a run must not end as a success."""
    context = get_current_context()
    run_id, dag_id = context["run_id"], context["dag"].dag_id
    source = dag_id.removeprefix("channel__")
    with _data([f"runs/channel__{safe_name(source)}/{safe_name(run_id)}"]) as data:
        return _record_triggers(context, source, data)


def _record_triggers(context: Any, source: str, data: DataPaths) -> dict[str, Any]:
    run_id, dag_id = context["run_id"], context["dag"].dag_id
    states = context["ti"].get_task_states(dag_id=dag_id, task_ids=[LIST_TASK, TRIGGER_TASK],
                                           run_ids=[run_id]).get(run_id, {})
    if str(states.get(LIST_TASK)) != "success":
        recorded = read_ingest_summary(data, source, run_id)
        cause = (((recorded.error if recorded else None) or {}).get("cause")
                 or f"{LIST_TASK} ended {states.get(LIST_TASK)}")
        write_ingest_summary(data, source, run_id, status="failed",
                             error={"cause": cause, "kind": "error"})
        fail(f"nothing was triggered: listing failed: {cause}")
    requests = list(context["ti"].xcom_pull(task_ids=LIST_TASK) or [])
    outcome: dict[str, list[str]] = {"triggered": [], "already_there": [], "failed": []}
    for index, request in enumerate(requests):
        state = str(states.get(f"{TRIGGER_TASK}_{index}", "unknown"))
        key = {"success": "triggered", "skipped": "already_there"}.get(state, "failed")
        outcome[key].append(request["trigger_run_id"])
    status = "failed" if outcome["failed"] else "success"
    error = ({"cause": f"{len(outcome['failed'])} triggers failed: {outcome['failed'][:5]}",
              "kind": "error"} if outcome["failed"] else None)
    write_ingest_summary(data, source, run_id, status=status, error=error, **outcome)
    log.info("triggered %d video_pipeline runs, %d were already there, %d failed",
             len(outcome["triggered"]), len(outcome["already_there"]), len(outcome["failed"]))
    if outcome["failed"]:
        fail(error["cause"])
    return {k: len(v) for k, v in outcome.items()}
