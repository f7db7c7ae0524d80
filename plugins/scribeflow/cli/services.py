"""Commands that start or check services: ``up`` (Airflow), ``serve`` (the search API),
``models`` and ``runs`` hosts, ``search`` and ``doctor``."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from scribeflow.cli.doctor import open_bucket
from scribeflow.cli.launcher import run_host_command
from scribeflow.core.config import DeploymentSettings, PipelineSettings
from scribeflow.core.errors import ScribeflowError
from scribeflow.core.links import timestamp
from scribeflow.hosts.airflow_home import airflow_bin, airflow_env, ensure_metadata_db

if TYPE_CHECKING:
    pass


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
    from scribeflow.serve.queries import query_vectors

    settings = PipelineSettings.from_env({"store": args.store, "data_dir": args.data_dir})
    filters = SearchFilters(video_id=args.video, channel=args.channel, date_from=args.date_from,
                            date_to=args.date_to, language=args.language, speaker=args.speaker)
    hits = search(args.query, settings, k=args.k, filters=filters,
                  query_vector=query_vectors(settings))
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
        print(f"    {', '.join(hit.speakers) + ': ' if hit.speakers else ''}{snippet}")
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
    from scribeflow.cli.doctor import llm_settings_from_env

    llm = llm_settings_from_env()[0]  # once: the metadata database is asked through a CLI
    uvicorn.run(create_app(dependencies=guards, llm=lambda: llm), host=args.host,
                port=args.port, log_level="warning")
    return 0


def cmd_models_serve(args: argparse.Namespace) -> int:
    """The model host of this worker host (``scribeflow.hosts.model_host``), until SIGTERM or ^C."""
    import logging
    import signal

    from scribeflow.hosts.model_host import ModelHost

    settings = PipelineSettings.from_env()
    socket = args.socket or settings.model_host
    if not socket:
        raise ScribeflowError("no socket for the model host: give --socket PATH or set "
                              "SCRIBEFLOW_MODEL_HOST")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    host = ModelHost(socket, max_models=args.max_models if args.max_models is not None
                     else DeploymentSettings.from_env().model_host_max_models)
    if args.preload:
        from scribeflow.pipeline.transcription import transcribe_options

        host.preload(transcribe_options(settings), settings.embed_model, settings.diarize)
    elif args.warm:
        import threading

        def warm() -> None:
            # the libraries first, outside the lock that a request for a model takes
            import sentence_transformers  # noqa: F401  (and torch)

            try:
                host.preload(None, settings.embed_model, settings.diarize)
            except ScribeflowError as exc:  # the request that needs the model says so too
                logging.getLogger(__name__).warning("models not loaded ahead: %s", exc)

        threading.Thread(target=warm, name="model-host-warm", daemon=True).start()
    signal.signal(signal.SIGTERM, lambda *_: host.stop())
    try:
        host.serve(ready=lambda: print(f"model host ready at {socket}", flush=True))
    except KeyboardInterrupt:
        host.stop()
    # The socket is gone and the host writes nothing: end now. The interpreter's own exit
    # (torch's and the request threads' clean-up) took 1.2 s, and once over 30 s under load.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def cmd_models_status(args: argparse.Namespace) -> int:
    """The model host's models, loads and requests as JSON; exit 1 when it is not running
    (the compose healthcheck)."""
    from scribeflow.hosts.model_client import ModelHostClient

    settings = PipelineSettings.from_env()
    socket = args.socket or settings.model_host
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


