"""P15: a channel's backlog, in audio seconds per wall second, against a bare loop.

``--videos`` recordings of mixed length (espeak-ng speech in which no sentence repeats, 10 to
90 s, as MP3) are served as a podcast feed on 127.0.0.1, and processed three ways in one
run, each in a fresh data folder, with no LLM (as a backlog is first ingested):

- ``bare``: the loop a user would write instead: one process loads faster-whisper (the
  bundled tiny.en, batched, beam 5, word timestamps: the product's CPU default for English;
  with ``--language auto`` the multilingual base with the language left to detect, the
  product's CPU default then) and all-MiniLM-L6-v2 once, then for each file transcribes it,
  cuts ~150-word chunks, embeds them and writes one Parquet file; reading the feed's local
  files, no Airflow;
- ``cli``: ``scribeflow ingest FEED --language en`` (``--language auto``: the default),
  the product's defaults otherwise;
- ``scheduler``: the feed as a source of the sources file: its ``channel__backlog`` DAG on
  api-server, scheduler and dag-processor (LocalExecutor, SQLite, parallelism 4, the idle
  sleep ``make up`` sets) with the model host ``make up`` and compose start beside them
  (``--no-model-host``: without), from the channel run's queueing to the last video run's
  end.

Before them, untimed, the bare loop runs on the shortest recording, so that no side pays for
reading the models and libraries from disk for the others, and each Airflow side's metadata
database is migrated (a new machine's first command does it once). Each path must have stored every
recording (rows in its store), or the benchmark fails. The figures: audio seconds / wall
seconds of each path, and each path's ratio to the bare loop's throughput (goal: ``cli`` ≥
0.5, ``scheduler`` ≥ 0.4 on 2 cores), with the per-video task breakdown of the product's runs
(from each run's summary). ``--quick`` (the smoke run): 2 short recordings, the bare loop
once and without its warm-up, and the scheduler path left out.

Usage: python bench/backlog_throughput.py [--videos 6] [--quick] [--no-scheduler]
       [--no-model-host] [--language en|auto]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import _common  # noqa: F401  (puts plugins/ and tests/ on the path)
from _common import SUBJECTS, migrate_metadata, spoken, unique_speech

from scribeflow.hosts.airflow_home import SCHEDULER_IDLE_SLEEP_S
from support.airflow import clean_env, login, prepare, service_env, services
from support.feeds import FeedSite, Upload
from support.http import free_port, json_request

SCRIBEFLOW = str(Path(sys.executable).with_name("scribeflow"))
#: Each recording's minutes of speech, in turn: a backlog's mix of short and longer videos.
MINUTES = (0.2, 1.5, 0.5, 1.0, 0.35, 0.75, 0.25, 1.2)

BARE = textwrap.dedent("""
    import json, sys, time
    started = time.perf_counter()
    from pathlib import Path
    import polars as pl
    from faster_whisper import BatchedInferencePipeline, WhisperModel
    from sentence_transformers import SentenceTransformer
    from scribeflow.speech.models import bundled_model
    from scribeflow.index.embedding import resolve_model
    language = sys.argv[2] if sys.argv[2] != "auto" else None
    whisper = BatchedInferencePipeline(WhisperModel(str(bundled_model(
        "tiny.en" if language == "en" else "base")), device="cpu", compute_type="int8"))
    embedder = SentenceTransformer(resolve_model("auto"), device="cpu")
    loaded = time.perf_counter()
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    rows = 0
    for name in sys.argv[3:]:
        segments, _ = whisper.transcribe(name, language=language, beam_size=5, batch_size=16,
                                         word_timestamps=True)
        words = [w for s in segments for w in s.words]
        chunks = [words[i:i + 150] for i in range(0, len(words), 150)]
        texts = ["".join(w.word for w in c).strip() for c in chunks]
        vectors = embedder.encode(texts, normalize_embeddings=True)
        pl.DataFrame({"text": texts, "start": [c[0].start for c in chunks],
                      "vector": [v.tolist() for v in vectors]}).write_parquet(
            out / (Path(name).stem + ".parquet"))
        rows += len(texts)
    print(json.dumps({"load_s": round(loaded - started, 2),
                      "work_s": round(time.perf_counter() - loaded, 2), "rows": rows}))
""")


def recordings(folder: Path, n: int, scale: float) -> list[tuple[Path, float]]:
    """``n`` MP3s of unique speech, of the lengths :data:`MINUTES` gives in turn (× ``scale``),
    and their seconds. Each recording's sentences start elsewhere in the shuffled list."""
    out = []
    sentences = unique_speech(sum(MINUTES[i % len(MINUTES)] * scale for i in range(n)) + 1)
    pool = sentences.split(". ")
    at = 0
    for i in range(n):
        words = 0
        take = []
        while words < MINUTES[i % len(MINUTES)] * scale * 150 and at < len(pool):
            take.append(pool[at].rstrip(".") + ".")
            words += len(take[-1].split())
            at += 1
        text = f"Episode {i + 1} about {SUBJECTS[i % len(SUBJECTS)]}. " + " ".join(take)
        path = spoken(folder / f"episode-{i + 1:02d}.mp3", text, "-ac", "1", "-b:a", "48k")
        out.append((path, _duration(path)))
    return out


def _duration(path: Path) -> float:
    probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of",
                            "csv=p=0", str(path)], capture_output=True, text=True, check=True)
    return float(probe.stdout.strip())


def stored(data: Path) -> dict[str, int]:
    """The product's stored rows per video (the Parquet store's manifest)."""
    from scribeflow.core.files import DataPaths
    from scribeflow.index.store.parquet import ParquetStore

    store = ParquetStore(DataPaths(data).parquet_store)
    return {video: len(store.video_rows(video)) for video in store.video_ids()}


def run_breakdown(data: Path) -> dict[str, dict[str, float]]:
    """Each video run's task clocks summed by kind (scheduling, start-up, imports, model
    loads, work), from the runs' summaries."""
    out = {}
    for path in sorted((data / "runs").glob("ingest__*/summary.json")):
        summary = json.loads(path.read_text())
        totals: dict[str, float] = {}
        for clock in (summary.get("timings") or {}).values():
            for key, value in clock.items():
                if key.endswith("_s") and isinstance(value, int | float):
                    totals[key] = round(totals.get(key, 0.0) + value, 2)
        out[summary.get("video_id") or path.parent.name] = totals
    return out


def bare(work: Path, files: list[Path], env: dict, language: str) -> dict:
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", BARE, str(work / "bare"), language,
                           *map(str, files)],
                          env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    wall = time.perf_counter() - started
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    assert figures["rows"] >= len(files), figures
    assert len(list((work / "bare").glob("*.parquet"))) == len(files)
    return {"wall_s": round(wall, 2), **figures}


def cli(work: Path, feed: str, n: int, env: dict, language: str,
        parallel: int | None = None) -> dict:
    data = work / "cli-data"
    # untimed, as the scheduler side's (`airflow db migrate`, 6-8 s on this VM)
    migrate_metadata(env, work / "cli-migrate.log")
    started = time.perf_counter()
    extra = ["--parallel", str(parallel)] if parallel else []
    proc = subprocess.run([SCRIBEFLOW, "ingest", feed, "--language", language, "--kind", "feed",
                           *extra],
                          env=env | {"SCRIBEFLOW_DATA": str(data)}, capture_output=True,
                          text=True)
    wall = time.perf_counter() - started
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    rows = stored(data)
    assert len(rows) == n and all(rows.values()), rows
    return {"wall_s": round(wall, 2), "videos": len(rows), "rows": sum(rows.values()),
            "per_video": run_breakdown(data)}


def scheduler(work: Path, feed: str, n: int, language: str, model_host: bool = True) -> dict:
    home, data = work / "scheduler", work / "scheduler-data"
    socket = Path(tempfile.mkdtemp(prefix="sf-")) / "models.sock"
    hosted = {"SCRIBEFLOW_MODEL_HOST": str(socket)} if model_host else {}
    sources = work / "channels.yaml"
    yesterday = dt.date.today() - dt.timedelta(days=1)
    sources.write_text(f"sources:\n  - name: backlog\n    url: {feed}\n    kind: feed\n"
                       f"    schedule: \"@daily\"\n    start_date: {yesterday}\n"
                       f"    end_date: {yesterday}\n    max_per_run: {n + 5}\n")
    port = free_port()
    env = service_env(home, api_port=port, executor="LocalExecutor",
                      database=f"sqlite:///{home}/airflow.db?timeout=30",
                      SCRIBEFLOW_DATA=str(data), SCRIBEFLOW_CHANNELS=str(sources),
                      SCRIBEFLOW_LANGUAGE=language, SCRIBEFLOW_TRANSCRIBE_QUEUE="default",
                      AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME=os.environ.get(
                          "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME",
                          SCHEDULER_IDLE_SLEEP_S), **hosted)
    prepare(env)
    base = f"http://127.0.0.1:{port}"
    commands = {name: [name] for name in ("api-server", "scheduler", "dag-processor")}
    host = None
    if model_host:  # as `make up` starts it: its models loaded before the first run
        with open(home / "model-host.log", "w") as log:
            host = subprocess.Popen([SCRIBEFLOW, "models", "serve", "--preload"], env=env,
                                    stdout=log, stderr=subprocess.STDOUT)
    try:
        return _through_scheduler(env, home, data, base, commands, n)
    finally:
        if host is not None:
            host.terminate()
            host.wait(30)


def _through_scheduler(env: dict, home: Path, data: Path, base: str, commands: dict, n: int
                       ) -> dict:
    with services(commands, env, home) as (processes, logs):
        token = login(base, home, processes, logs)
        deadline = time.monotonic() + 1800
        while json_request(f"{base}/api/v2/dags/channel__backlog", token)[0] != 200:
            assert time.monotonic() < deadline, "channel__backlog was not parsed"
            time.sleep(1)
        _patch(f"{base}/api/v2/dags/channel__backlog", token, {"is_paused": False})
        while True:  # the channel's one interval runs once its DAG is unpaused
            _, body = json_request(f"{base}/api/v2/dags/channel__backlog/dagRuns", token)
            channel = (body.get("dag_runs") or [None])[0]
            _, videos = json_request(f"{base}/api/v2/dags/video_pipeline/dagRuns?limit=100",
                                     token)
            runs = videos.get("dag_runs", [])
            done = [r for r in runs if r["state"] in ("success", "failed")]
            if channel and channel["state"] in ("success", "failed") and len(done) == n:
                break
            assert time.monotonic() < deadline, (channel, [r["state"] for r in runs])
            time.sleep(1)
    assert {r["state"] for r in runs} == {"success"}, [r["dag_run_id"] for r in runs
                                                       if r["state"] != "success"]
    rows = stored(data)
    assert len(rows) == n and all(rows.values()), rows
    start = _epoch(channel["queued_at"])
    end = max(_epoch(r["end_date"]) for r in runs)
    return {"wall_s": round(end - start, 2), "videos": len(rows), "rows": sum(rows.values()),
            "per_video": run_breakdown(data)}


def _patch(url: str, token: str, body: dict) -> None:
    import urllib.request

    request = urllib.request.Request(url, method="PATCH", data=json.dumps(body).encode(),
                                     headers={"Authorization": f"Bearer {token}",
                                              "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60):
        pass


def _epoch(stamp: str) -> float:
    return dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--videos", type=int, default=6)
    parser.add_argument("--quick", action="store_true", help="2 short recordings, no scheduler")
    parser.add_argument("--no-scheduler", dest="scheduler", action="store_false")
    parser.add_argument("--parallel", type=int, help="the CLI path's --parallel (default: "
                        "the product's)")
    parser.add_argument("--language", default="en", choices=("en", "auto"),
                        help="the speech's language as the product is told it (en: tiny.en "
                        "on both sides; auto: the product's default, base with the language "
                        "detected, and the bare loop the same)")
    parser.add_argument("--no-model-host", dest="model_host", action="store_false",
                        help="the scheduler path without the model host make up starts")
    args = parser.parse_args()
    n, scale = (2, 0.3) if args.quick else (args.videos, 1.0)
    work = Path(tempfile.mkdtemp(prefix="bench-backlog-"))
    media = work / "media"
    made = recordings(media, n, scale)
    audio_s = round(sum(s for _, s in made), 1)
    yesterday = dt.datetime.combine(dt.date.today() - dt.timedelta(days=1), dt.time(12),
                                    dt.UTC)
    site = FeedSite(media)
    site.feed("feed.xml", [Upload(path.name, f"Episode {i + 1}",
                                  yesterday - dt.timedelta(minutes=i), duration=seconds)
                           for i, (path, seconds) in enumerate(made)])
    env = clean_env(AIRFLOW_HOME=str(work / "cli-home"))
    try:
        results: dict = {"videos": n, "audio_s": audio_s, "language": args.language,
                         "lengths_s": [round(s, 1) for _, s in made]}
        # untimed, the loop on the shortest recording: whichever side ran first read the
        # models and libraries from disk for both (a first bare run took 26.6 s, 10.9 s of
        # it loading, against 18.9 s and 5.8 s after the product's paths)
        if not args.quick:
            bare(work / "warm-up", [min(made, key=lambda m: m[1])[0]], env, args.language)
        # the sides in turn, the bare loop first and last: its mean is the reference
        first = bare(work, [p for p, _ in made], env, args.language)
        results["cli"] = cli(work, site.url("feed.xml"), n, env, args.language, args.parallel)
        if args.scheduler and not args.quick:
            results["scheduler"] = scheduler(work, site.url("feed.xml"), n, args.language,
                                             args.model_host)
        last = first if args.quick else bare(work, [p for p, _ in made], env, args.language)
        results["bare"] = {"runs_wall_s": [first["wall_s"], last["wall_s"]],
                           "load_s": [first["load_s"], last["load_s"]],
                           "work_s": [first["work_s"], last["work_s"]],
                           "rows": first["rows"]}
        bare_rate = audio_s / ((first["wall_s"] + last["wall_s"]) / 2)
        results["audio_s_per_wall_s"] = {"bare": round(bare_rate, 2)}
        for path in ("cli", "scheduler"):
            if path in results:
                rate = audio_s / results[path]["wall_s"]
                results["audio_s_per_wall_s"][path] = round(rate, 2)
                results[f"ratio_{path}_over_bare"] = round(rate / bare_rate, 3)
        results["target"] = {"cli": ">= 0.5", "scheduler": ">= 0.4"}
        print(json.dumps(results, indent=2))
    finally:
        site.close()


if __name__ == "__main__":
    main()
