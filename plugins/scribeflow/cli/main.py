"""The ``scribeflow`` command: ``run`` a video through the DAG, ``search`` what is stored."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scribeflow.cli.doctor import open_bucket
from scribeflow.core.config import STORES, TRANSCRIBERS, DeploymentSettings, PipelineSettings
from scribeflow.core.errors import ScribeflowError
from scribeflow.core.files import DataPaths, read_json
from scribeflow.core.links import timestamp
from scribeflow.hosts.airflow_home import airflow_bin, airflow_env, ensure_metadata_db
from scribeflow.pipeline.summary import format_summary, read_run_summary, summary_key

if TYPE_CHECKING:
    from scribeflow.pipeline.ingest import Window
    from scribeflow.sources.catalog import Source


@dataclass(frozen=True)
class VideoRun:
    code: int
    run_id: str | None
    state: str
    summary: dict
    summary_path: Path | str | None  # a URL with the data on object storage
    log_file: Path
    reused: bool = False


def new_log_file(data: DataPaths) -> Path:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
    return data.root / "logs" / f"run-{stamp}-{os.getpid()}.log"


def run_video(conf: dict, env: dict[str, str], data: DataPaths, *, run_id: str | None = None,
              verbose: bool = False, log_file: Path | None = None) -> VideoRun:
    """Run ``video_pipeline`` once in a child process (``dag.test()``), logging to
    ``log_file`` (under ``data/logs/``); the run's summary as the tasks wrote it."""
    log_file = log_file or new_log_file(data)
    code, run = run_dag("video_pipeline", conf, env, log_file, run_id=run_id, verbose=verbose)
    if run is None:
        return VideoRun(code=code or 2, run_id=None, state="not started", summary={},
                        summary_path=None, log_file=log_file)
    if run.get("error"):
        return VideoRun(code=2, run_id=None, state="invalid",
                        summary={"status": "invalid", "error": {"cause": run["error"],
                                                                "step": "start"}},
                        summary_path=None, log_file=log_file)
    settings = PipelineSettings.from_env({"data_dir": env.get("SCRIBEFLOW_DATA") or data.root})
    summary_path = (f"{settings.data_url}/{summary_key(run['run_id'])}" if settings.data_url
                    else data.run_summary(run["run_id"]))
    try:
        summary = read_run_summary(settings, run["run_id"]) or {"status": run["state"]}
    except ScribeflowError as exc:  # the bucket went away during the run
        summary = {"status": run["state"], "error": {"cause": str(exc), "step": "summary"}}
    if not (run["state"] == "success" and summary.get("status") == "degraded"):
        summary["status"] = run["state"]
    return VideoRun(code=code, run_id=run["run_id"], state=run["state"], summary=summary,
                    summary_path=summary_path, log_file=log_file, reused=run.get("reused", False))


def run_dag(dag_id: str, conf: dict, env: dict[str, str], log_file: Path, *,
            run_id: str | None = None, verbose: bool = False) -> tuple[int, dict | None]:
    """Run ``dag_id`` once (``dag.test()``) in a child process, or in a child of the run host
    ``$SCRIBEFLOW_RUN_HOST`` names, logging to ``log_file``: the exit code and
    ``{"run_id", "state"}`` (``{"error"}`` for params it refused), or None when it did not
    start."""
    result_file = log_file.with_suffix(".result.json")
    log_file.parent.mkdir(parents=True, exist_ok=True)
    ensure_metadata_db(env, log_file)
    argv = ["--dag-id", dag_id, "--conf", json.dumps(conf), "--result", str(result_file)]
    argv += ["--run-id", run_id] if run_id else []
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
def own_run_host(env: dict[str, str]) -> Iterator[dict[str, str]]:
    """``env`` with a run host of this command's own (:mod:`scribeflow.hosts.run_host`) for the
    runs it starts one after another, stopped at the end: Airflow is imported once for all of
    them instead of once a run. ``env`` as it is when a run host is configured already, or
    when this one does not start within a minute (each run then starts its own runner)."""
    import shutil
    import tempfile
    import time

    if DeploymentSettings.from_env(env).run_host:
        yield env
        return
    folder = Path(tempfile.mkdtemp(prefix="scribeflow-runs-"))
    socket = folder / "runs.sock"  # bound once the host has imported Airflow
    with open(folder / "host.log", "w") as log:
        host = subprocess.Popen(run_host_command(socket), env=env, stdout=log,
                                stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while not socket.exists() and host.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        yield env | {"SCRIBEFLOW_RUN_HOST": str(socket)} if socket.exists() else env
    finally:
        host.terminate()
        try:
            host.wait(30)
        except subprocess.TimeoutExpired:
            host.kill()
        shutil.rmtree(folder, ignore_errors=True)


def cmd_evaluate(args: argparse.Namespace) -> int:
    """The ``evaluate`` DAG once, in-process; its table, report and verdict."""
    from scribeflow.evaluation.runs import evaluation_root, format_table, read_summary

    env, data = _video_env(args.data_dir)
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
    root = evaluation_root(PipelineSettings.from_env({"data_dir": env.get("SCRIBEFLOW_DATA")
                                                      }).data_dir)
    summary = read_summary(root, run["run_id"])
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


def _video_env(data_dir: str | None) -> tuple[dict[str, str], DataPaths]:
    env = airflow_env(data_dir)
    # dag.test() runs mapped task instances one after another, so in-process runs send every
    # chunk through one group, where the LLM calls run concurrently (bench/pipeline_overhead).
    env.setdefault("SCRIBEFLOW_MAX_LLM_GROUPS", "1")
    data = DataPaths(PipelineSettings.from_env({"data_dir": env.get("SCRIBEFLOW_DATA")}).data_dir)
    return env, data


def cmd_run(args: argparse.Namespace) -> int:
    env, data = _video_env(args.data_dir)
    open_bucket(PipelineSettings.from_env({"data_dir": env.get("SCRIBEFLOW_DATA")}))
    conf = {"url": args.url}
    for key in ("language", "transcriber", "whisper_model", "chunk_words", "store",
                "quiz_per_chunk"):
        if getattr(args, key) is not None:
            conf[key] = getattr(args, key)
    if args.quiz:
        conf["quiz"] = True
    if not args.force and _print_reused(conf, env, data):
        return 0
    log_file = new_log_file(data)
    print(f"running video_pipeline on {args.url} (Airflow log: {log_file})", flush=True)
    run = run_video(conf, env, data, verbose=args.verbose, log_file=log_file)
    if run.state == "invalid":
        print(f"error: {run.summary['error']['cause']}", file=sys.stderr)
        return 2
    if run.run_id is None:
        tail = run.log_file.read_text(errors="replace").splitlines()[-15:]
        print(f"the pipeline did not start; last lines of {run.log_file}:", *tail, sep="\n",
              file=sys.stderr)
        return 2
    print(format_summary(run.summary))
    print(f"{'summary:':<18}{run.summary_path}")
    error = (run.summary.get("error") or {}).get("cause") or ""
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
    summary = read_run_summary(settings, done.run_id) or {}
    print(f"video_pipeline on {conf['url']}: reused run {done.run_id}, which processed it "
          "from the same inputs (--force runs it again)")
    print(format_summary(summary))
    print(f"{'summary:':<18}{data.run_summary(done.run_id)}")
    return True


def cmd_up(args: argparse.Namespace) -> int:
    """``airflow standalone`` on the embedded defaults, with the pools created and a model
    host (``scribeflow models serve``) whose models every task of this host uses."""
    env = airflow_env(args.data_dir)
    env.setdefault("AIRFLOW__API__HOST", args.host)
    env.setdefault("AIRFLOW__API__PORT", str(args.port))
    env.setdefault("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", "admin:admin")
    home = Path(env["AIRFLOW_HOME"])
    log_file = home / "setup.log"
    ensure_metadata_db(env, log_file)
    deployment = DeploymentSettings.from_env(env)
    pools = ((deployment.llm_pool, args.llm_slots, "Scribeflow LLM document stages"),
             (deployment.download_pool, args.download_slots,
              "Scribeflow downloads from video sites"))
    with open(log_file, "a") as log:
        for name, slots, description in pools:
            subprocess.run([airflow_bin(), "pools", "set", name, str(slots), description],
                           env=env, stdout=log, stderr=log, check=True)
    host = None
    if not args.no_model_host and not env.get("SCRIBEFLOW_MODEL_HOST"):
        # the tasks of this host send their models' work to one process that keeps them
        env["SCRIBEFLOW_MODEL_HOST"] = str(home / "run" / "models.sock")
        with open(home / "model-host.log", "a") as log:
            host = subprocess.Popen([sys.executable, "-m", "scribeflow.cli.main", "models", "serve",
                                     "--preload"], env=env, stdout=log, stderr=log)
        print(f"model host: {env['SCRIBEFLOW_MODEL_HOST']} (log {home / 'model-host.log'})")
    print(f"Airflow UI: http://{env['AIRFLOW__API__HOST']}:{env['AIRFLOW__API__PORT']}  "
          f"(user admin; password in {home / 'simple_auth_manager_passwords.json.generated'})",
          flush=True)
    import signal

    standalone = subprocess.Popen([airflow_bin(), "standalone"], env=env)
    # SIGTERM (a service manager, `timeout`) stops standalone and the host as ^C does
    signal.signal(signal.SIGTERM, lambda *_: standalone.send_signal(signal.SIGINT))
    try:
        while True:
            try:
                return standalone.wait()
            except KeyboardInterrupt:  # ^C reached standalone too: wait for it to stop
                continue
    finally:
        if host is not None:
            host.terminate()
            host.wait(30)


def cmd_search(args: argparse.Namespace) -> int:
    from scribeflow.core.records import SearchFilters
    from scribeflow.index.search import search

    settings = PipelineSettings.from_env({"store": args.store, "data_dir": args.data_dir})
    filters = SearchFilters(video_id=args.video, channel=args.channel, date_from=args.date_from,
                            date_to=args.date_to, language=args.language)
    hits = search(args.query, settings, k=args.k, filters=filters)
    if args.json:
        print(json.dumps([h.to_dict() for h in hits], indent=2, ensure_ascii=False))
        return 0
    if not hits:
        print("no results")
    elif all(hit.weak for hit in hits):
        print("nothing matched closely; the nearest passages:")
    for n, hit in enumerate(hits, start=1):
        text = hit.text[hit.moment_offset:]  # from the moment the hit starts at
        snippet = ("…" if hit.moment_offset else "") + (
            text if len(text) <= 240 else text[:239] + "…")
        match = f"{round(max(0.0, hit.similarity or 0.0) * 100):>3}% match"  # as the page shows it
        print(f"{n:>2}. {match}{' (weak)' if hit.weak else ''}  {hit.title}  "
              f"@ {timestamp(hit.start)[:8]}  {hit.url}")
        print(f"    {snippet}")
    return 0


def _day(text: str | None, flag: str) -> dt.datetime | None:
    if not text:
        return None
    try:
        return dt.datetime.combine(dt.date.fromisoformat(text), dt.time(), dt.UTC)
    except ValueError:
        raise ScribeflowError(f"{flag} must be a date (YYYY-MM-DD), not {text!r}") from None


def _ingest_source(args: argparse.Namespace):
    """The named source of the sources file, or a one-off source for a URL."""
    import hashlib
    import re

    from scribeflow.sources.catalog import Source, load_sources
    from scribeflow.sources.sites import site_of

    if "://" not in args.source:
        return load_sources().get(args.source)
    slug = re.sub(r"[^a-z0-9]+", "-", site_of(args.source).lower()).strip("-")[:40] or "url"
    digest = hashlib.sha256(args.source.encode()).hexdigest()[:8]
    try:
        return Source(name=f"cli-{slug}-{digest}", url=args.source, schedule="@daily",
                      start_date=dt.date.today(), kind=args.kind, max_per_run=1000,
                      include_shorts=args.include_shorts)
    except ValueError as exc:
        raise ScribeflowError(f"cannot ingest {args.source!r}: "
                              f"{' '.join(str(exc).split())}") from None


def cmd_ingest(args: argparse.Namespace) -> int:
    """List a channel, playlist or feed and process its new videos, one after another, the
    way its channel DAG would (the same decisions, the same run ids)."""
    from scribeflow.core.files import safe_name
    from scribeflow.core.objects import working_copy
    from scribeflow.pipeline.ingest import Window
    from scribeflow.sources.cookies import check_cookies

    since, until = _day(args.since, "--since"), _day(args.until, "--until")
    if until is not None:
        until += dt.timedelta(days=1)  # --until is inclusive, like --since
    if since and until and since >= until:
        raise ScribeflowError("--since must not be after --until")
    if args.limit is not None and args.limit < 1:
        raise ScribeflowError(f"--limit must be at least 1, not {args.limit}")
    source = _ingest_source(args)
    env, data = _video_env(args.data_dir)
    cookies = None
    if args.cookies:
        try:
            cookies = Path(args.cookies).read_text(encoding="utf-8")
        except OSError as exc:
            raise ScribeflowError(f"cannot read the cookies file {args.cookies}: "
                                  f"{exc.strerror}") from None
        check_cookies(cookies, f"the cookies file {args.cookies}")
    window = Window(since, until, live=until is None)
    run_id = "cli__" + dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    settings = PipelineSettings.from_env({"data_dir": env.get("SCRIBEFLOW_DATA")})
    open_bucket(settings)
    folder = safe_name(source.name)
    # with the data on object storage: a working copy of the source's state, whose locked
    # updates go to the bucket (as the channel DAG's tasks do); run logs stay on this host
    with working_copy(settings, [f"sources/{folder}", "blocks",
                                 f"runs/channel__{folder}/{safe_name(run_id)}"],
                      label="ingest") as state:
        return _ingest(args, source, window, run_id, env, data, state, cookies, settings)


def _ingest(args: argparse.Namespace, source: Source, window: Window, run_id: str,
            env: dict[str, str], logs: DataPaths, data: DataPaths, cookies: str | None,
            settings: PipelineSettings) -> int:
    from scribeflow.pipeline.ingest import (
        failure,
        ingest_source,
        past_run_from_summary,
        stored_lookup,
        write_ingest_summary,
    )
    from scribeflow.sources.cookies import cookie_file
    from scribeflow.sources.listing import Lister, Throttle

    stored = stored_lookup(PipelineSettings.from_env(
        {"data_dir": env.get("SCRIBEFLOW_DATA"), "store": args.store or source.store}))

    print(f"listing {source.url} ({'dry run, ' if args.dry_run else ''}window "
          f"{window.start.date() if window.start else '…'} to "
          f"{(window.end - dt.timedelta(days=1)).date() if window.end else 'now'})", flush=True)
    with cookie_file(cookies, f"the cookies file {args.cookies}") as cookiefile:
        lister = Lister(cookiefile=cookiefile, throttle=Throttle(*source.request_sleep))
        try:
            plan = ingest_source(source, window, data, lister=lister, dry_run=args.dry_run,
                                 past_run=lambda rid: past_run_from_summary(data, rid),
                                 stored=stored, max_per_run=args.limit)
        except ScribeflowError as exc:
            if not args.dry_run:
                write_ingest_summary(data, source.name, run_id, url=source.url,
                                     status="failed", error=failure(exc))
            raise
        finally:
            lister.close()
    for decision in plan.decisions:
        entry = decision.entry
        when = f"{entry.published:%Y-%m-%d}" if entry.published else "undated   "
        why = decision.reason + (f": {decision.detail}" if decision.detail else "")
        print(f"{when}  {decision.action:<8} {entry.key:<28} {entry.title[:60]!r:<62} {why}")
    summary = plan.summary()
    print(f"found {summary['found']} entries in {summary['listing_requests']} listing requests; "
          f"{len(plan.to_trigger)} to process; skipped {summary['skipped'] or 'none'}; "
          f"deferred {summary['deferred'] or 'none'}; outside the window "
          f"{summary['outside_window']}")
    for warning in plan.warnings:
        print(f"warning: {warning}")
    if args.dry_run:
        return 0
    write_ingest_summary(data, source.name, run_id, url=source.url, status="processing",
                         **summary, warnings=list(plan.warnings))
    overrides = {k: getattr(args, k) for k in ("language", "whisper_model", "store")
                 if getattr(args, k) is not None} | ({"quiz": True} if args.quiz else {})
    if cookies:
        # The child process reads it as an Airflow connection from its environment only.
        env["AIRFLOW_CONN_SCRIBEFLOW_CLI_COOKIES"] = json.dumps(
            {"conn_type": "generic", "password": cookies})
        overrides["cookies_conn_id"] = "scribeflow_cli_cookies"
    outcome: dict[str, list[str]] = {"succeeded": [], "failed": [], "already_done": []}
    with (own_run_host(env) if len(plan.to_trigger) > 1 else contextlib.nullcontext(env)
          ) as run_env:
        for decision in plan.to_trigger:
            conf = source.run_conf() | {"url": decision.entry.url} | overrides
            run = run_video(conf, run_env, logs, run_id=decision.run_id)
            key = "already_done" if run.reused else ("succeeded" if run.state == "success"
                                                     else "failed")
            outcome[key].append(decision.run_id)
            cause = (run.summary.get("error") or {}).get("cause")
            print(f"{run.state:<8} {decision.run_id}  {decision.entry.title[:60]!r}"
                  + (f"  ({cause})" if cause and run.state != "success" else ""), flush=True)
    status = "failed" if outcome["failed"] else "success"
    path = write_ingest_summary(data, source.name, run_id, status=status, **outcome,
                                triggered=[d.run_id for d in plan.to_trigger])
    where = (f"{settings.data_url}/{path.relative_to(data.root).as_posix()}"
             if settings.data_url else path)
    print(f"{len(outcome['succeeded'])} processed, {len(outcome['failed'])} failed, "
          f"{len(outcome['already_done'])} already done; summary: {where}")
    return 1 if outcome["failed"] else 0


def cmd_reindex(args: argparse.Namespace) -> int:
    """Rebuild a store from the per-video artifacts on disk (re-embeds each video)."""
    from scribeflow.pipeline import steps

    settings = PipelineSettings.from_env({"store": args.store, "data_dir": args.data_dir})
    open_bucket(settings)
    result = steps.reindex(settings, report=lambda video_id, rows, replaced: print(
        f"{video_id}: {rows} rows (replaced {replaced})", flush=True))
    if not result["videos"]:
        where = f"{settings.data_url}/videos" if settings.data_url else settings.data_dir / "videos"
        print(f"no processed videos under {where}")
        return 0
    print(f"reindexed {result['videos']} videos into {result['store']}: "
          f"{result['total_rows']} rows in all")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """The search page and HTTP API on their own. On a loopback address they need no token;
    anywhere else they refuse to start without one (``SCRIBEFLOW_API_TOKEN``), and every
    request must carry it as ``Authorization: Bearer <token>``."""
    import ipaddress

    token = DeploymentSettings.from_env().api_token
    try:
        loopback = args.host == "localhost" or ipaddress.ip_address(args.host).is_loopback
    except ValueError:
        loopback = False
    if not loopback and not token:
        raise ScribeflowError(f"refusing to serve on {args.host} without an API token: set "
                              "SCRIBEFLOW_API_TOKEN, or serve on 127.0.0.1")
    if token and len(token) < 16:
        raise ScribeflowError("SCRIBEFLOW_API_TOKEN is too short: use at least 16 characters")
    import fastapi
    import uvicorn

    from scribeflow.serve.api import create_app, token_guard

    open_bucket(PipelineSettings.from_env())  # the player reads media from it, if it is one

    guards = [fastapi.Depends(token_guard(token))] if token else []
    print(f"search page: http://{args.host}:{args.port}/  API: /api/search?q=…"
          + ("  (API token required)" if token else ""), flush=True)
    uvicorn.run(create_app(dependencies=guards), host=args.host, port=args.port,
                log_level="warning")
    return 0


def cmd_models_serve(args: argparse.Namespace) -> int:
    """The model host of this worker host (``scribeflow.hosts.model_host``), until SIGTERM or ^C."""
    import logging
    import signal

    from scribeflow.hosts.model_host import ModelHost

    socket = args.socket or PipelineSettings.from_env().model_host
    if not socket:
        raise ScribeflowError("no socket for the model host: give --socket PATH or set "
                              "SCRIBEFLOW_MODEL_HOST")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    host = ModelHost(socket, max_models=args.max_models if args.max_models is not None
                     else DeploymentSettings.from_env().model_host_max_models)
    if args.preload:
        from scribeflow.pipeline.steps import transcribe_options

        settings = PipelineSettings.from_env()
        host.preload(transcribe_options(settings), settings.embed_model)
    signal.signal(signal.SIGTERM, lambda *_: host.stop())
    try:
        host.serve(ready=lambda: print(f"model host ready at {socket}", flush=True))
    except KeyboardInterrupt:
        host.stop()
    return 0


def cmd_models_status(args: argparse.Namespace) -> int:
    """The model host's models, loads and requests as JSON; exit 1 when it is not running
    (the compose healthcheck)."""
    from scribeflow.hosts.model_host import ModelHostClient

    socket = args.socket or PipelineSettings.from_env().model_host
    if not socket:
        raise ScribeflowError("no model host configured: give --socket PATH or set "
                              "SCRIBEFLOW_MODEL_HOST")
    try:
        status = ModelHostClient(socket).status()
    except ScribeflowError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(status, indent=2))
    return 0


def cmd_runs_serve(args: argparse.Namespace) -> int:
    """The run host (``scribeflow.hosts.run_host``): this process becomes the runner with Airflow
    imported, forking a child for each in-process run, until SIGTERM or ^C."""
    socket = args.socket or DeploymentSettings.from_env().run_host
    if not socket:
        raise ScribeflowError("no socket for the run host: give --socket PATH or set "
                              "SCRIBEFLOW_RUN_HOST")
    env = airflow_env()  # the Airflow settings `scribeflow run` gives its runs
    sys.stdout.flush()
    os.execve(sys.executable, run_host_command(Path(socket).resolve()), env)
    return 0  # not reached


def cmd_doctor(args: argparse.Namespace) -> int:
    """What is configured here, checked (models, LLM endpoint, store, Airflow home), with a
    fix for each problem; secrets masked."""
    from scribeflow.cli.doctor import report

    text, healthy = report()
    print(text)
    return 0 if healthy else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scribeflow", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run video_pipeline on one video (in-process, dag.test)")
    run.add_argument("url", help="any yt-dlp URL, a file:// URL or a local file")
    run.add_argument("--language", help="spoken language code, or auto (default)")
    run.add_argument("--transcriber", choices=TRANSCRIBERS,
                     help="local (faster-whisper, default) or endpoint (an OpenAI-compatible "
                          "transcription endpoint: the openai_transcription connection)")
    run.add_argument("--whisper-model", dest="whisper_model", help="auto, a model name or a path")
    run.add_argument("--chunk-words", dest="chunk_words", type=int, help="words per chunk")
    run.add_argument("--store", choices=STORES, help="vector store (default parquet)")
    run.add_argument("--quiz", action="store_true", help="also generate a quiz")
    run.add_argument("--quiz-per-chunk", dest="quiz_per_chunk", type=int,
                     help="quiz questions per chunk (default 2)")
    run.add_argument("--data-dir", dest="data_dir", help="data folder (default ./data)")
    run.add_argument("--force", action="store_true",
                     help="run the DAG even when a run processed these inputs before")
    run.add_argument("-v", "--verbose", action="store_true", help="stream the Airflow log")
    run.set_defaults(func=cmd_run)

    ingest = sub.add_parser("ingest", help="process a channel, playlist or feed in one go")
    ingest.add_argument("source", help="a URL, or the name of a source in the sources file")
    ingest.add_argument("--since", metavar="YYYY-MM-DD", help="published on or after")
    ingest.add_argument("--until", metavar="YYYY-MM-DD", help="published on or before")
    ingest.add_argument("--limit", type=int, help="process at most N videos, newest first")
    ingest.add_argument("--dry-run", dest="dry_run", action="store_true",
                        help="print each entry and what would be done with it, process nothing")
    ingest.add_argument("--kind", choices=("auto", "feed", "playlist"), default="auto",
                        help="for a URL: a feed, a yt-dlp playlist, or sniff it (default)")
    ingest.add_argument("--include-shorts", dest="include_shorts", action="store_true")
    ingest.add_argument("--cookies", metavar="FILE", help="a Netscape cookies file for the site")
    ingest.add_argument("--language")
    ingest.add_argument("--whisper-model", dest="whisper_model")
    ingest.add_argument("--store", choices=STORES)
    ingest.add_argument("--quiz", action="store_true")
    ingest.add_argument("--data-dir", dest="data_dir")
    ingest.set_defaults(func=cmd_ingest)

    up = sub.add_parser("up", help="airflow standalone with these DAGs (UI on 127.0.0.1:8080)")
    up.add_argument("--host", default="127.0.0.1")
    up.add_argument("--port", type=int, default=8080)
    up.add_argument("--llm-slots", dest="llm_slots", type=int, default=4,
                    help="slots of the llm pool: mapped LLM tasks running at once")
    up.add_argument("--download-slots", dest="download_slots", type=int, default=2,
                    help="slots of the downloads pool: downloads running at once")
    up.add_argument("--data-dir", dest="data_dir")
    up.add_argument("--no-model-host", dest="no_model_host", action="store_true",
                    help="load the models in each task instead of one model host")
    up.set_defaults(func=cmd_up)

    find = sub.add_parser("search", help="semantic search over stored chunks")
    find.add_argument("query")
    find.add_argument("-k", type=int, default=5, help="number of hits (default 5)")
    find.add_argument("--video", help="only this video id")
    find.add_argument("--channel", help="only this channel")
    find.add_argument("--from", dest="date_from", metavar="YYYY-MM-DD", help="uploaded on or after")
    find.add_argument("--to", dest="date_to", metavar="YYYY-MM-DD", help="uploaded on or before")
    find.add_argument("--language", help="only this language code")
    find.add_argument("--store", choices=STORES)
    find.add_argument("--data-dir", dest="data_dir")
    find.add_argument("--json", action="store_true", help="machine-readable output")
    find.set_defaults(func=cmd_search)

    reindex = sub.add_parser("reindex", help="rebuild a store from the artifacts on disk")
    reindex.add_argument("--store", choices=STORES)
    reindex.add_argument("--data-dir", dest="data_dir")
    reindex.set_defaults(func=cmd_reindex)

    models = sub.add_parser("models", help="the model host: whisper and embedding models kept "
                                           "loaded for this host's tasks")
    models_sub = models.add_subparsers(dest="models_command", required=True)
    serve_models = models_sub.add_parser("serve", help="serve on a Unix socket until stopped")
    serve_models.add_argument("--socket", help="its path (default $SCRIBEFLOW_MODEL_HOST)")
    serve_models.add_argument("--max-models", dest="max_models", type=int,
                              default=None,
                              help="models kept loaded at most; the least recently used is "
                                   "unloaded first (default $SCRIBEFLOW_MODEL_HOST_MAX_MODELS, "
                                   "else 2: whisper and the embedding model)")
    serve_models.add_argument("--preload", action="store_true",
                              help="load the configured whisper and embedding models at start")
    serve_models.set_defaults(func=cmd_models_serve)
    status_models = models_sub.add_parser("status", help="what the host holds; exit 1 when "
                                                         "it is not running")
    status_models.add_argument("--socket", help="its path (default $SCRIBEFLOW_MODEL_HOST)")
    status_models.set_defaults(func=cmd_models_status)

    runs = sub.add_parser("runs", help="the run host: Airflow imported once for in-process runs")
    runs_sub = runs.add_subparsers(dest="runs_command", required=True)
    serve_runs = runs_sub.add_parser("serve", help="serve on a Unix socket until stopped; "
                                     "`run`, `ingest` and `evaluate` use it with "
                                     "SCRIBEFLOW_RUN_HOST set to that socket")
    serve_runs.add_argument("--socket", help="its path (default $SCRIBEFLOW_RUN_HOST)")
    serve_runs.set_defaults(func=cmd_runs_serve)
    serve = sub.add_parser("serve", help="the search page and HTTP API, unauthenticated (local)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8090)
    serve.set_defaults(func=cmd_serve)

    evaluate = sub.add_parser("evaluate", help="evaluate configurations on a reference set "
                                               "(the evaluate DAG, in-process)")
    evaluate.add_argument("--references", help="reference items (default: the shipped set, "
                                               "include/evaluation/references.yaml)")
    evaluate.add_argument("--configs", help="configurations (default: "
                                            "include/evaluation/configs.yaml)")
    evaluate.add_argument("--only", action="append", metavar="NAME",
                          help="evaluate only this configuration (repeatable)")
    evaluate.add_argument("--max-wer-increase", dest="max_wer_increase", type=float,
                          help="fail when WER rises by more than this (default 0.02)")
    evaluate.add_argument("--max-quality-drop", dest="max_quality_drop", type=float,
                          help="fail when the 0-100 quality drops by more (default 5)")
    evaluate.add_argument("--max-content-drop", dest="max_content_drop", type=float,
                          help="fail when the content kept drops by more (default 0.05)")
    evaluate.add_argument("--data-dir", dest="data_dir")
    evaluate.add_argument("-v", "--verbose", action="store_true", help="stream the Airflow log")
    evaluate.set_defaults(func=cmd_evaluate)

    doctor = sub.add_parser("doctor", help="check the configuration: models, LLM, store, Airflow")
    doctor.set_defaults(func=cmd_doctor)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ScribeflowError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
