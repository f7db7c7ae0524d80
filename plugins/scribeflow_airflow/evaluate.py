"""The ``evaluate`` DAG's tasks: thin wrappers over :mod:`scribeflow.evaluation.runs`.

``plan`` reads and checks the reference set and the configurations; ``evaluate_config`` (one
mapped instance per configuration) runs the pipeline's steps over every reference item;
``report`` stores the rows, compares each configuration with its previous evaluation,
writes the HTML report and fails the run when one got worse than the margins allow.
"""

from __future__ import annotations

import logging
from typing import Any

from airflow.sdk import get_current_context

from scribeflow.core.errors import ScribeflowError
from scribeflow_airflow.failures import fail

log = logging.getLogger(__name__)


def _params() -> tuple[dict[str, Any], dict[str, str]]:
    context = get_current_context()
    run = context["dag_run"]
    when = getattr(run, "run_after", None) or getattr(run, "logical_date", None) \
        or run.start_date
    return dict(context["params"]), {"run_id": context["run_id"],
                                     "evaluated_at": when.isoformat(timespec="seconds")}


def _root() -> Any:
    from scribeflow.core.config import PipelineSettings
    from scribeflow.evaluation.runs import evaluation_root

    return evaluation_root(PipelineSettings.from_env({}).data_dir)


def _failed(run: dict[str, str], step: str, cause: str) -> None:
    """Record why the evaluation could not run (the run's note reads it), then fail."""
    from scribeflow.evaluation.report import record_evaluation_failure

    record_evaluation_failure(_root(), run, step, cause)
    log.error("%s failed: %s", step, cause)
    fail(cause)


def plan() -> list[dict[str, Any]]:
    from scribeflow.evaluation.references import load_candidates, load_floors, load_references

    params, run = _params()
    try:
        items = load_references(params.get("references") or None)
        candidates = load_candidates(params.get("configs") or None)
        load_floors(params.get("configs") or None)  # a bad floors: fails before the work
    except ScribeflowError as exc:
        _failed(run, "plan", str(exc))
    only = params.get("only") or []
    unknown = sorted(set(only) - {c.name for c in candidates})
    if unknown:
        _failed(run, "plan", f"no configuration named {unknown[0]!r} in the configurations file")
    chosen = [c for c in candidates if not only or c.name in only]
    log.info("evaluating %d configurations on %d reference items: %s", len(chosen), len(items),
             ", ".join(c.name for c in chosen))
    return [c.to_dict() for c in chosen]


def evaluate_config(candidate: dict[str, Any]) -> list[dict[str, Any]]:
    from scribeflow.evaluation.references import Candidate, load_references
    from scribeflow.evaluation.runs import evaluate_candidate
    from scribeflow_airflow.hooks import LLMHook, transcription_settings

    params, run = _params()
    config = Candidate(**candidate)
    try:
        items = load_references(params.get("references") or None)
        endpoint = (transcription_settings()
                    if config.settings.get("transcriber") == "endpoint" else None)
        return evaluate_candidate(config, items, _root(), LLMHook().get_settings(), endpoint, run)
    except ScribeflowError as exc:
        _failed(run, f"evaluate_config {config.name}", str(exc))


def report(results: Any) -> dict[str, Any]:
    from scribeflow.evaluation.references import Margins, load_floors
    from scribeflow.evaluation.report import finish, format_table

    params, run = _params()
    rows = [row | run for batch in list(results[:]) for row in batch]
    try:
        margins = Margins(wer=params["max_wer_increase"], quality=params["max_quality_drop"],
                          content=params["max_content_drop"])
        summary = finish(_root(), run, rows, margins, load_floors(params.get("configs") or None))
    except ScribeflowError as exc:
        _failed(run, "report", str(exc))
    log.info("evaluation of %d configurations:\n%s\nreport: %s", len(summary["configs"]),
             format_table(summary), summary["report"])
    if summary["failed"]:
        log.error("%s", summary["failed"])
        fail(summary["failed"])
    return {"report": summary["report"], "results": summary["results"]}
