"""Commands on videos: ``run`` one (or find it done before), ``reindex`` the store, ``evaluate``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scribeflow.cli.doctor import open_bucket
from scribeflow.cli.launcher import new_log_file, run_dag, run_video
from scribeflow.core.config import PipelineSettings
from scribeflow.core.errors import ScribeflowError
from scribeflow.core.files import DataPaths
from scribeflow.hosts.airflow_home import airflow_env
from scribeflow.pipeline.summary import RunSummary, format_summary, read_run_summary

if TYPE_CHECKING:
    pass


def cmd_evaluate(args: argparse.Namespace) -> int:
    """The ``evaluate`` DAG once, in-process; its table, report and verdict."""
    from scribeflow.evaluation.report import format_table, read_evaluation_summary
    from scribeflow.evaluation.runs import evaluation_root

    env, data, settings = video_env(args.data_dir)
    conf: dict[str, Any] = {"only": args.only or []}
    for key in ("references", "configs"):
        if getattr(args, key):
            conf[key] = str(Path(getattr(args, key)).resolve())
    for key in ("max_wer_increase", "max_quality_drop", "max_content_drop"):
        if getattr(args, key) is not None:
            conf[key] = getattr(args, key)
    log_file = new_log_file(data)
    print(f"running evaluate (Airflow log: {log_file})", flush=True)
    code, run = run_dag("evaluate", conf, env, log_file, verbose=args.verbose)
    if run is None:
        tail = log_file.read_text(errors="replace").splitlines()[-15:]
        print("the evaluation did not start; last lines of the log:", *tail, sep="\n",
              file=sys.stderr)
        return 2
    if run.get("error"):
        print(f"error: {run['error']}", file=sys.stderr)
        return 2
    root = evaluation_root(settings.data_dir)
    summary = read_evaluation_summary(root, run["run_id"])
    if summary is None:
        print(f"error: the evaluation wrote no summary (run {run['state']}); see {log_file}",
              file=sys.stderr)
        return 1
    if summary.get("configs"):
        print(format_table(summary))
    print(f"{'run:':<9}{run['run_id']}")
    for label, key in (("report", "report"), ("results", "results")):
        if summary.get(key):
            print(f"{label + ':':<9}{summary[key]}")
    if summary.get("failed"):
        print(f"failed:  {summary['failed']}", file=sys.stderr)
        return 1
    return 0 if run["state"] == "success" else 1


def video_env(data_dir: str | None) -> tuple[dict[str, str], DataPaths, PipelineSettings]:
    """A command's one view of its settings: the environment its runs get, their data
    folder, and the settings that environment resolves to (read once, passed on)."""
    env = airflow_env(data_dir)
    # dag.test() runs mapped task instances one after another, so in-process runs send every
    # chunk through one group, where the LLM calls run concurrently (bench/pipeline_overhead).
    env.setdefault("SCRIBEFLOW_MAX_LLM_GROUPS", "1")
    settings = PipelineSettings.from_env({"data_dir": env.get("SCRIBEFLOW_DATA")})
    return env, DataPaths(settings.data_dir), settings


def cmd_run(args: argparse.Namespace) -> int:
    env, data, settings = video_env(args.data_dir)
    open_bucket(settings)
    conf = {"url": args.url}
    for key in ("language", "transcriber", "whisper_model", "chunk_words", "store",
                "quiz_per_chunk", "subtitle_chars", "subtitle_lines", "diarize",
                "num_speakers", "min_speakers", "max_speakers", "summary"):
        if getattr(args, key) is not None:
            conf[key] = getattr(args, key)
    if args.translate_to is not None:
        conf["translate_to"] = args.translate_to.replace(",", " ").split()
    if args.quiz:
        conf["quiz"] = True
    if not args.force and _print_reused(conf, env, data):
        return 0
    log_file = new_log_file(data)
    print(f"running video_pipeline on {args.url} (Airflow log: {log_file})", flush=True)
    run = run_video(conf, env, data, verbose=args.verbose, log_file=log_file)
    if run.state == "invalid":
        print(f"error: {(run.summary.error or {}).get('cause')}", file=sys.stderr)
        return 2
    if run.run_id is None:
        tail = run.log_file.read_text(errors="replace").splitlines()[-15:]
        print(f"the pipeline did not start; last lines of {run.log_file}:", *tail, sep="\n",
              file=sys.stderr)
        return 2
    print(format_summary(run.summary))
    print(f"{'summary:':<18}{run.summary_path}")
    error = (run.summary.error or {}).get("cause") or ""
    if "is a playlist" in error:
        print(f"{'hint:':<18}to process a channel, playlist or feed: scribeflow ingest "
              f"{args.url} [--since DATE] [--limit N] [--dry-run]")
    return 0 if run.state == "success" and run.code == 0 else 1


def _print_reused(conf: dict, env: dict[str, str], data: DataPaths) -> bool:
    """Print the summary of the run that processed these inputs before, when all it made is
    still there: decided without starting Airflow (``scribeflow.pipeline.reuse``)."""
    from scribeflow.core.errors import BadInputError
    from scribeflow.index.store import open_store
    from scribeflow.pipeline.reuse import (
        Unknown,
        endpoint_from,
        find_done,
        llm_from,
        pgvector_dsn_from,
        request_key,
    )

    try:
        settings = PipelineSettings.from_env(
            {k: v for k, v in conf.items() if k != "url"} | {"data_dir": env.get("SCRIBEFLOW_DATA")})
        if settings.data_url:
            return False
        endpoint = endpoint_from(env) if settings.transcriber == "endpoint" else None
        key = request_key(conf["url"], settings, llm_from(env), endpoint)
        dsn = pgvector_dsn_from(env) if settings.store == "pgvector" else None
        done, why = find_done(data, key, open_store(settings, dsn))
    except (Unknown, BadInputError, ScribeflowError):  # the DAG run tells what is wrong
        return False
    if done is None:
        return False
    summary = read_run_summary(settings, done.run_id) or RunSummary()
    print(f"video_pipeline on {conf['url']}: reused run {done.run_id}, which processed it "
          "from the same inputs (--force runs it again)")
    print(format_summary(summary))
    print(f"{'summary:':<18}{data.run_summary(done.run_id)}")
    return True


def cmd_reindex(args: argparse.Namespace) -> int:
    """Rebuild a store from the per-video artifacts on disk (re-embeds each video)."""
    from scribeflow.pipeline.reindex import reindex

    settings = PipelineSettings.from_env({"store": args.store, "data_dir": args.data_dir})
    open_bucket(settings)
    result = reindex(settings, report=lambda video_id, rows, replaced: print(
        f"{video_id}: {rows} rows (replaced {replaced})", flush=True))
    if not result.videos:
        where = f"{settings.data_url}/videos" if settings.data_url else settings.data_dir / "videos"
        print(f"no processed videos under {where}")
        return 0
    print(f"reindexed {result.videos} videos into {result.store}: "
          f"{result.total_rows} rows in all")
    return 0


