"""The ``scribeflow`` command: ``run`` a video through the DAG, ``search`` what is stored."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

from scribeflow.config import PROJECT_ROOT, STORES, PipelineSettings
from scribeflow.errors import ScribeflowError
from scribeflow.files import DataPaths, read_json
from scribeflow.subtitles import timestamp
from scribeflow.summary import format_summary


def airflow_env(data_dir: Path | None = None) -> dict[str, str]:
    """The embedded defaults (SQLite + LocalExecutor under the project); set values win."""
    env = dict(os.environ)
    home = Path(env.get("AIRFLOW_HOME") or PROJECT_ROOT / ".airflow")
    defaults = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
    }
    for key, value in defaults.items():
        env.setdefault(key, value)
    plugins = str(PROJECT_ROOT / "plugins")
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join([plugins] + [p for p in paths if p != plugins])
    # `airflow standalone` starts its components as `airflow …` found on PATH.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    if data_dir is not None:
        env["SCRIBEFLOW_DATA"] = str(Path(data_dir).resolve())
    return env


def _airflow_bin() -> str:
    candidate = Path(sys.executable).with_name("airflow")
    return str(candidate) if candidate.exists() else "airflow"


def ensure_metadata_db(env: dict[str, str], log_file: Path) -> None:
    """Create or upgrade the SQLite metadata database on first use."""
    conn = env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    if conn.startswith("sqlite:///") and Path(conn.removeprefix("sqlite:///")).exists():
        return
    Path(env["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
    with open(log_file, "a") as log:
        subprocess.run([_airflow_bin(), "db", "migrate"], env=env, stdout=log, stderr=log,
                       check=True)


def cmd_run(args: argparse.Namespace) -> int:
    env = airflow_env(args.data_dir)
    # dag.test() runs mapped task instances one after another, so in-process runs send every
    # chunk through one group, where the LLM calls run concurrently (bench/pipeline_overhead).
    env.setdefault("SCRIBEFLOW_MAX_LLM_GROUPS", "1")
    data = DataPaths(PipelineSettings.from_env({"data_dir": env.get("SCRIBEFLOW_DATA")}).data_dir)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
    log_file = data.root / "logs" / f"run-{stamp}-{os.getpid()}.log"
    result_file = log_file.with_suffix(".result.json")
    log_file.parent.mkdir(parents=True, exist_ok=True)
    conf = {"url": args.url}
    for key in ("language", "whisper_model", "chunk_words", "store", "quiz_per_chunk"):
        if getattr(args, key) is not None:
            conf[key] = getattr(args, key)
    if args.quiz:
        conf["quiz"] = True
    ensure_metadata_db(env, log_file)
    command = [sys.executable, "-m", "scribeflow_airflow.runner", "--conf", json.dumps(conf),
               "--result", str(result_file)]
    print(f"running video_pipeline on {args.url} (Airflow log: {log_file})", flush=True)
    with open(log_file, "a") as log:
        if args.verbose:
            proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True)
            for line in proc.stdout:  # type: ignore[union-attr]
                sys.stdout.write(line)
                log.write(line)
            code = proc.wait()
        else:
            code = subprocess.run(command, env=env, stdout=log, stderr=log).returncode
    if not result_file.exists():
        tail = log_file.read_text(errors="replace").splitlines()[-15:]
        print("the pipeline did not start; last lines of the log:", *tail, sep="\n",
              file=sys.stderr)
        return 2
    run = read_json(result_file)
    summary_path = data.run_summary(run["run_id"])
    summary = read_json(summary_path) if summary_path.exists() else {"status": run["state"]}
    summary["status"] = run["state"]
    print(format_summary(summary))
    print(f"{'summary:':<18}{summary_path}")
    return 0 if run["state"] == "success" and code == 0 else 1


def cmd_up(args: argparse.Namespace) -> int:
    """``airflow standalone`` on the embedded defaults, with the LLM pool created."""
    env = airflow_env(args.data_dir)
    env.setdefault("AIRFLOW__API__HOST", args.host)
    env.setdefault("AIRFLOW__API__PORT", str(args.port))
    env.setdefault("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", "admin:admin")
    home = Path(env["AIRFLOW_HOME"])
    log_file = home / "setup.log"
    ensure_metadata_db(env, log_file)
    with open(log_file, "a") as log:
        subprocess.run([_airflow_bin(), "pools", "set", env.get("SCRIBEFLOW_LLM_POOL", "llm"),
                        str(args.llm_slots), "Scribeflow LLM document stages"],
                       env=env, stdout=log, stderr=log, check=True)
    print(f"Airflow UI: http://{env['AIRFLOW__API__HOST']}:{env['AIRFLOW__API__PORT']}  "
          f"(user admin; password in {home / 'simple_auth_manager_passwords.json.generated'})",
          flush=True)
    os.execvpe(_airflow_bin(), [_airflow_bin(), "standalone"], env)


def cmd_search(args: argparse.Namespace) -> int:
    from scribeflow.records import SearchFilters
    from scribeflow.search import search

    settings = PipelineSettings.from_env({"store": args.store, "data_dir": args.data_dir})
    filters = SearchFilters(video_id=args.video, channel=args.channel, date_from=args.date_from,
                            date_to=args.date_to, language=args.language)
    hits = search(args.query, settings, k=args.k, filters=filters)
    if args.json:
        print(json.dumps([h.to_dict() for h in hits], indent=2, ensure_ascii=False))
        return 0
    if not hits:
        print("no results")
    for n, hit in enumerate(hits, start=1):
        snippet = hit.text if len(hit.text) <= 240 else hit.text[:239] + "…"
        print(f"{n:>2}. {hit.score:.3f}  {hit.title}  @ {timestamp(hit.start)[:8]}  {hit.url}")
        print(f"    {snippet}")
    return 0


def cmd_reindex(args: argparse.Namespace) -> int:
    """Rebuild a store from the per-video artifacts on disk (re-embeds each video)."""
    from scribeflow import steps

    settings = PipelineSettings.from_env({"store": args.store, "data_dir": args.data_dir})
    result = steps.reindex(settings, report=lambda video_id, rows, replaced: print(
        f"{video_id}: {rows} rows (replaced {replaced})", flush=True))
    if not result["videos"]:
        print(f"no processed videos under {settings.data_dir / 'videos'}")
        return 0
    print(f"reindexed {result['videos']} videos into {result['store']}: "
          f"{result['total_rows']} rows in all")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """The search page and HTTP API on their own, without authentication: local use only."""
    import uvicorn

    from scribeflow.api import create_app

    print(f"search page: http://{args.host}:{args.port}/  API: /api/search?q=…", flush=True)
    uvicorn.run(create_app(), host=args.host, port=args.port, log_level="warning")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scribeflow", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run video_pipeline on one video (in-process, dag.test)")
    run.add_argument("url", help="any yt-dlp URL, a file:// URL or a local file")
    run.add_argument("--language", help="spoken language code, or auto (default)")
    run.add_argument("--whisper-model", dest="whisper_model", help="auto, a model name or a path")
    run.add_argument("--chunk-words", dest="chunk_words", type=int, help="words per chunk")
    run.add_argument("--store", choices=STORES, help="vector store (default parquet)")
    run.add_argument("--quiz", action="store_true", help="also generate a quiz")
    run.add_argument("--quiz-per-chunk", dest="quiz_per_chunk", type=int,
                     help="quiz questions per chunk (default 2)")
    run.add_argument("--data-dir", dest="data_dir", help="data folder (default ./data)")
    run.add_argument("-v", "--verbose", action="store_true", help="stream the Airflow log")
    run.set_defaults(func=cmd_run)

    up = sub.add_parser("up", help="airflow standalone with these DAGs (UI on 127.0.0.1:8080)")
    up.add_argument("--host", default="127.0.0.1")
    up.add_argument("--port", type=int, default=8080)
    up.add_argument("--llm-slots", dest="llm_slots", type=int, default=4,
                    help="slots of the llm pool: mapped LLM tasks running at once")
    up.add_argument("--data-dir", dest="data_dir")
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

    serve = sub.add_parser("serve", help="the search page and HTTP API, unauthenticated (local)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8090)
    serve.set_defaults(func=cmd_serve)
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
