"""P12: the whole ``video_pipeline`` run (``scribeflow run``) with the data folder on object
storage (``SCRIBEFLOW_DATA=s3://…``, a real S3-compatible server on 127.0.0.1: moto) against
the same run with a local data folder, same video, same servers, pgvector as the store on
both sides (the Parquet store is refused on object storage).

Every task of the object storage side checks out what it needs to a scratch folder and
publishes what it wrote; the bytes each task moved are read from its log line
(``object storage: N bytes in, M bytes out``) and reported per minute of audio. Each run has
a fresh data folder (or bucket) and the speech never repeats a sentence, so nothing is
reused: the LLM requests of every run are counted as evidence. The sides alternate, ``--runs``
each, and the medians are compared.
Usage: python bench/object_storage.py [--minutes 5] [--runs 3] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import ROOT, median, timed
from pipeline_overhead import speech_video


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=5)
    parser.add_argument("--llm-delay", type=float, default=0.4)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="a 30 s video, one run a side")
    args = parser.parse_args()
    if args.quick:
        args.minutes, args.runs = 0.5, 1

    import pgserver

    from scribeflow.hosts.airflow_home import airflow_env, ensure_metadata_db
    from support.media import FileServer
    from support.openai_server import EditorScript, ScriptedOpenAI
    from support.s3 import start_s3

    media = ROOT / "data" / "bench" / "media"
    media.mkdir(parents=True, exist_ok=True)
    name = f"unique-speech-{args.minutes:g}min.mp4"
    speech_video(media / name, args.minutes)
    work = Path(tempfile.mkdtemp(prefix="bench-p12-"))
    home = work / "airflow"
    s3 = start_s3(work / "moto.log")
    pg = pgserver.get_server(work / "pg", cleanup_mode="stop")
    script = EditorScript(refuse_word=None, error_at=0, rate_limit_first=False)
    try:
        with FileServer(media) as files, ScriptedOpenAI(script, delay_s=args.llm_delay) as llm:
            env = {k: v for k, v in os.environ.items()
                   if not k.startswith(("SCRIBEFLOW_", "OPENAI_", "AIRFLOW", "AWS_"))}
            env |= {"OPENAI_BASE_URL": llm.base_url, "OPENAI_API_KEY": "k", "OPENAI_MODEL": "m",
                    "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT / "plugins"),
                    "SCRIBEFLOW_STORE": "pgvector"}
            airflow = airflow_env() | env | {
                "AIRFLOW_HOME": str(home),
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db?timeout=30"}
            ensure_metadata_db(airflow, work / "migrate.log")
            scribeflow = str(Path(sys.executable).with_name("scribeflow"))
            logs: dict[str, list[str]] = {"local": [], "s3": []}

            def run(side: str, i: int) -> None:
                database = f"{side}_{i}"
                pg.psql(f"CREATE DATABASE {database};")
                data = (str(work / f"local-{i}") if side == "local"
                        else f"s3://{s3.new_bucket()}/data")
                proc = subprocess.run(  # the bucket's keys in a connection, as deployed
                    [scribeflow, "run", "--verbose", files.url(name)], env=airflow | {
                        "AIRFLOW_CONN_SCRIBEFLOW_DATA": s3.connection(),
                        "SCRIBEFLOW_DATA": data, "SCRIBEFLOW_WORKDIR": str(work / f"host-{i}"),
                        "SCRIBEFLOW_LANGUAGE": "en",  # English speech: tiny.en, as measured
                        "SCRIBEFLOW_PGVECTOR_DSN": pg.get_uri(database)},
                    capture_output=True, text=True)
                assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
                logs[side].append(proc.stdout)

            seconds: dict[str, list[float]] = {"local": [], "s3": []}
            requests: dict[str, list[int]] = {"local": [], "s3": []}
            for i in range(args.runs):  # alternate which side goes first
                for side in (("local", "s3") if i % 2 == 0 else ("s3", "local")):
                    before = len(llm.requests)
                    seconds[side].append(timed(lambda s=side, n=i: run(s, n)))
                    requests[side].append(len(llm.requests) - before)
    finally:
        pg.cleanup()
        s3.stop()
    moved = [[tuple(map(int, m)) for m in re.findall(
        r"object storage: (\d+) bytes in, (\d+) bytes out", out)] for out in logs["s3"]]
    audio_s = float(re.search(r"duration:\s+([\d.]+) s", logs["s3"][-1]).group(1))
    bytes_in = median([sum(m[0] for m in run) for run in moved])
    bytes_out = median([sum(m[1] for m in run) for run in moved])
    local_s, s3_s = median(seconds["local"]), median(seconds["s3"])
    print(json.dumps({
        "video_minutes": args.minutes, "audio_s": audio_s, "runs_per_side": args.runs,
        "runs_s": {side: [round(s, 2) for s in v] for side, v in seconds.items()},
        # every run asked the LLM itself (fresh folder or bucket, no sentence repeats)
        "llm_requests": requests,
        "tasks_that_moved_bytes": [len(run) for run in moved],
        "local_s": round(local_s, 2), "object_storage_s": round(s3_s, 2),
        "mb_in_per_audio_minute": round(bytes_in / 1e6 / (audio_s / 60), 3),
        "mb_out_per_audio_minute": round(bytes_out / 1e6 / (audio_s / 60), 3),
        "ratio_object_storage_over_local": round(s3_s / local_s, 3), "target": "(report)",
    }, indent=2))


if __name__ == "__main__":
    main()
