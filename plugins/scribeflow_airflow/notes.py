"""An Airflow listener: when a ``video_pipeline`` run ends, its outcome and cause become the
run's note, which the UI shows on the run's page ("failed at download: not a media file: …",
"degraded: …", "success: 12 chunks, 12 rows stored"); an ``evaluate`` run's note is its
verdict and report; a channel run's, what its listing found and triggered.

Airflow calls it where the run's state changes, inside the scheduler's transaction; it only
reads the run's ``summary.json``. ``scribeflow run`` (``dag.test``) writes the same note
when the run returns.
"""

from __future__ import annotations

import logging
from typing import Any

from airflow.listeners import hookimpl

log = logging.getLogger(__name__)
DAG_ID = "video_pipeline"
EVALUATE_DAG_ID = "evaluate"
DIGEST_DAG_ID = "digest"
CHANNEL_PREFIX = "channel__"


def note_for(dag_run: Any, state: str) -> str | None:
    """The note a ``video_pipeline`` run gets when it ends in ``state`` (None for other
    DAGs, or when it cannot be made)."""
    if dag_run.dag_id == EVALUATE_DAG_ID:
        return _evaluation_note(dag_run, state)
    if dag_run.dag_id == DIGEST_DAG_ID:
        return _digest_note(dag_run, state)
    if dag_run.dag_id.startswith(CHANNEL_PREFIX):
        return _channel_note(dag_run, state)
    if dag_run.dag_id != DAG_ID:
        return None
    try:
        from scribeflow.core.config import PipelineSettings
        from scribeflow.core.errors import ScribeflowError
        from scribeflow.pipeline.summary import read_run_summary, run_note
        from scribeflow_airflow.hooks import open_data_storage

        settings = PipelineSettings.from_env({})
        try:
            open_data_storage(settings)
            summary = read_run_summary(settings, dag_run.run_id)
        except ScribeflowError as exc:  # the bucket is unreachable: say so, not nothing
            summary = {"status": state, "error": {"cause": str(exc), "step": "storage"}}
        return run_note(summary, state, dag_run.note)
    except Exception:  # a note must never break the scheduler
        log.exception("could not make the note of %s", dag_run.run_id)
        return None


def _channel_note(dag_run: Any, state: str) -> str | None:
    """A channel run's note: what its listing found and what became of it (listed,
    triggered, already there, skipped and deferred with their reasons), or its cause."""
    try:
        from scribeflow.core.config import PipelineSettings
        from scribeflow.core.errors import ScribeflowError
        from scribeflow.pipeline.ingest_records import ingest_note, ingest_summary_of
        from scribeflow_airflow.hooks import open_data_storage

        settings = PipelineSettings.from_env({})
        source = dag_run.dag_id.removeprefix(CHANNEL_PREFIX)
        try:
            open_data_storage(settings)
            summary = ingest_summary_of(settings, source, dag_run.run_id)
        except ScribeflowError as exc:
            summary = {"status": "failed", "error": {"cause": str(exc)}}
        return ingest_note(summary, state)
    except Exception:  # a note must never break the scheduler
        log.exception("could not make the note of %s", dag_run.run_id)
        return None


def _evaluation_note(dag_run: Any, state: str) -> str | None:
    """An ``evaluate`` run's verdict and report ("failed: worse than the baseline: …")."""
    try:
        from scribeflow.core.config import PipelineSettings
        from scribeflow.evaluation.report import evaluation_note, read_evaluation_summary
        from scribeflow.evaluation.runs import evaluation_root

        root = evaluation_root(PipelineSettings.from_env({}).data_dir)
        return evaluation_note(read_evaluation_summary(root, dag_run.run_id), state)
    except Exception:  # a note must never break the scheduler
        log.exception("could not make the note of %s", dag_run.run_id)
        return None


def _digest_note(dag_run: Any, state: str) -> str | None:
    """A ``digest`` run's period and what it lists, with a link to the digest."""
    try:
        from scribeflow.core.config import PipelineSettings
        from scribeflow.core.files import DataPaths
        from scribeflow.library.digest import digest_note

        settings = PipelineSettings.from_env({})
        if settings.data_url:
            return None
        return digest_note(DataPaths(settings.data_dir), dag_run.run_id, state)
    except Exception:  # a note must never break the scheduler
        log.exception("could not make the note of %s", dag_run.run_id)
        return None


def _note(dag_run: Any, state: str) -> None:
    from sqlalchemy.orm import object_session

    if object_session(dag_run) is None:  # dag.test: scribeflow's runner writes it afterwards
        return
    if (note := note_for(dag_run, state)) is not None:
        dag_run.note = note  # committed with the state change, in the scheduler's transaction


@hookimpl
def on_dag_run_success(dag_run: Any, msg: str) -> None:
    _note(dag_run, "success")


@hookimpl
def on_dag_run_failed(dag_run: Any, msg: str) -> None:
    _note(dag_run, "failed")
