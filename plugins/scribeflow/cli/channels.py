"""``scribeflow ingest``: a source's uploads listed, decided on and run, one run per video."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scribeflow.cli.doctor import open_bucket
from scribeflow.cli.launcher import own_hosts, prepare_dag, run_video
from scribeflow.cli.video import video_env
from scribeflow.core.config import DeploymentSettings, PipelineSettings
from scribeflow.core.errors import ScribeflowError
from scribeflow.core.files import DataPaths, safe_name
from scribeflow.hosts.airflow_home import ensure_metadata_db

if TYPE_CHECKING:
    from scribeflow.pipeline.ingest import Window
    from scribeflow.sources.catalog import Source


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
    """List a channel, playlist or feed and process its new videos the way its channel DAG
    would (the same decisions, the same run ids), ``--parallel`` at once (default
    ``SCRIBEFLOW_INGEST_PARALLEL``, 2), with a model host and a run host of its own."""
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
    env, data, settings = video_env(args.data_dir)
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
    from scribeflow.pipeline.ingest import entry_conf, list_source, stored_lookup
    from scribeflow.pipeline.ingest_records import (
        past_run_from_summary,
        write_ingest_summary,
    )

    stored = stored_lookup(replace(settings, store=args.store or source.store or settings.store))

    print(f"listing {source.url} ({'dry run, ' if args.dry_run else ''}window "
          f"{window.start.date() if window.start else '…'} to "
          f"{(window.end - dt.timedelta(days=1)).date() if window.end else 'now'})", flush=True)
    plan = list_source(source, window, data, run_id, cookies=cookies,
                       cookies_label=f"the cookies file {args.cookies}",
                       past_run=lambda rid: past_run_from_summary(data, rid), stored=stored,
                       dry_run=args.dry_run, max_per_run=args.limit, status="processing")
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
    overrides = {k: getattr(args, k) for k in ("language", "whisper_model", "store")
                 if getattr(args, k) is not None} | ({"quiz": True} if args.quiz else {})
    if args.translate_to is not None:
        overrides["translate_to"] = args.translate_to.replace(",", " ").split()
    if cookies:
        # The child process reads it as an Airflow connection from its environment only.
        env["AIRFLOW_CONN_SCRIBEFLOW_CLI_COOKIES"] = json.dumps(
            {"conn_type": "generic", "password": cookies})
        overrides["cookies_conn_id"] = "scribeflow_cli_cookies"
    outcome: dict[str, list[str]] = {"succeeded": [], "failed": [], "already_done": []}
    parallel = args.parallel or DeploymentSettings.from_env(env).ingest_parallel
    if parallel < 1:
        raise ScribeflowError(f"--parallel must be at least 1, not {parallel}")
    several = len(plan.to_trigger) > 1
    setup_log = logs.root / "logs" / "setup.log"

    def set_up() -> None:  # once, while the hosts start, before runs start at once
        setup_log.parent.mkdir(parents=True, exist_ok=True)
        ensure_metadata_db(env, setup_log)

    with (own_hosts(env, set_up) if several else contextlib.nullcontext(env)) as run_env, \
            ThreadPoolExecutor(max_workers=parallel) as pool:

        def process(decision: Any) -> None:
            conf = entry_conf(source, decision.entry) | overrides
            run = run_video(conf, run_env, logs, run_id=decision.run_id)
            key = "already_done" if run.reused else ("succeeded" if run.state == "success"
                                                     else "failed")
            outcome[key].append(decision.run_id)
            cause = (run.summary.error or {}).get("cause")
            print(f"{run.state:<8} {decision.run_id}  {decision.entry.title[:60]!r}"
                  + (f"  ({cause})" if cause and run.state != "success" else ""), flush=True)

        if several:
            prepare_dag("video_pipeline", run_env, setup_log)
        for done in [pool.submit(process, d) for d in plan.to_trigger]:
            done.result()
    status = "failed" if outcome["failed"] else "success"
    path = write_ingest_summary(data, source.name, run_id, status=status, **outcome,
                                triggered=[d.run_id for d in plan.to_trigger])
    where = (f"{settings.data_url}/{path.relative_to(data.root).as_posix()}"
             if settings.data_url else path)
    print(f"{len(outcome['succeeded'])} processed, {len(outcome['failed'])} failed, "
          f"{len(outcome['already_done'])} already done; summary: {where}")
    return 1 if outcome["failed"] else 0




def cmd_migrate_ids(args: argparse.Namespace) -> int:
    """Move feed videos stored under their media file's name to their entries' keys (feed
    and guid): each source listed, its stored videos found by media URL, folders and rows
    moved; running it again moves nothing."""
    from scribeflow.core.files import DataPaths
    from scribeflow.index.store import open_store
    from scribeflow.pipeline.rekey import migrate_feed_ids
    from scribeflow.sources.catalog import load_sources
    from scribeflow.sources.listing import Lister

    settings = PipelineSettings.from_env({"data_dir": args.data_dir, "store": args.store})
    if settings.data_url:
        raise ScribeflowError(f"migrate-ids moves folders of a local data folder; with "
                              f"SCRIBEFLOW_DATA={settings.data_url} run it where the data is")
    if args.sources:
        sources = [_ingest_source(argparse.Namespace(source=s, kind="feed", include_shorts=False))
                   for s in args.sources]
    else:
        sources = [s for s in load_sources().sources if s.kind in ("auto", "feed")]
    store = open_store(settings)
    data = DataPaths(settings.data_dir)
    moved = failed = 0
    for source in sources:
        lister = Lister()
        try:
            entries = list(lister.entries(source.url, source.kind))
        except ScribeflowError as exc:
            print(f"{source.name}: cannot list {source.url}: {exc}", file=sys.stderr)
            failed += 1
            continue
        finally:
            lister.close()
        for rekey in migrate_feed_ids(entries, data, store, dry_run=args.dry_run):
            verb = "would move" if args.dry_run else "moved"
            print(f"{source.name}: {verb} {rekey.old} -> {rekey.new}"
                  + ("" if args.dry_run else f" ({rekey.rows} rows)"))
            moved += 1
    print(f"{moved} videos {'to move' if args.dry_run else 'moved'}; "
          f"{store.count()} rows in the {store.name} store")
    return 1 if failed else 0
