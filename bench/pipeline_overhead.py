"""P4: the whole ``video_pipeline`` run (``scribeflow run``: Airflow, dag.test, CPU) on a
synthesised speech video, against the sum of its bare steps run directly in one process
(download, transcribe, LLM document stages, summary, chapters, quality score, rendering, embed,
upsert) on the same video and servers.

Both sides start a fresh Python process (imports and model loads count on both sides), read
the video from the same local HTTP server with yt-dlp and call the same local
OpenAI-compatible server (answers after ``--llm-delay`` seconds). Each run has a data folder
of its own, so nothing is reused from an earlier run; the speech never repeats a sentence,
so no chunk's answer serves another; the sides alternate, ``--runs`` each, and the medians
are compared. The LLM requests of every run are counted as evidence that it did the work.
Usage: python bench/pipeline_overhead.py [--minutes 10] [--runs 3] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

from _common import ROOT, median, spoken, timed, unique_speech

BARE = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from dataclasses import replace
    from scribeflow.core.config import PipelineSettings
    from scribeflow.core.endpoints import LLMSettings
    from scribeflow.pipeline.audio import download_video
    from scribeflow.pipeline.chunks import split_transcript
    from scribeflow.pipeline.document import assemble_video_document, write_document_group
    from scribeflow.pipeline.outputs import render_outputs
    from scribeflow.pipeline.rows import upsert_video_rows
    from scribeflow.pipeline.speakers import find_speakers
    from scribeflow.pipeline.study import score_document_quality, write_chapters, write_quiz
    from scribeflow.pipeline.summarize import summarize_video
    from scribeflow.pipeline.transcription import transcribe_video
    settings = PipelineSettings.from_env()
    llm = LLMSettings.from_env()
    audio = download_video(sys.argv[1], settings)
    transcribe_video(audio.video_dir, settings)
    find_speakers(audio.video_dir, settings)
    groups = split_transcript(audio.video_dir, settings)
    every_chunk = replace(groups[0], chunks=tuple(i for g in groups for i in g.chunks))
    part = write_document_group(every_chunk, llm, settings)
    assemble_video_document(audio.video_dir, [part])
    summarize_video(audio.video_dir, llm, settings)
    write_chapters(audio.video_dir, llm, settings)
    write_quiz(audio.video_dir, llm, settings)
    score_document_quality(audio.video_dir, llm, settings)
    render_outputs(audio.video_dir, settings, llm)
    upsert_video_rows(audio.video_dir, settings)
""")


def speech_video(path: Path, minutes: float) -> Path:
    return spoken(path, unique_speech(minutes), "-f", "lavfi", "-i",
                  "color=c=navy:s=160x120:r=5", "-shortest", "-c:v", "libx264", "-preset",
                  "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--llm-delay", type=float, default=0.4)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="a 30 s video, one run a side")
    args = parser.parse_args()
    if args.quick:
        args.minutes, args.runs = 0.5, 1

    from scribeflow.hosts.airflow_home import airflow_env, ensure_metadata_db
    from support.media import FileServer
    from support.openai_server import EditorScript, ScriptedOpenAI

    media = ROOT / "data" / "bench" / "media"
    media.mkdir(parents=True, exist_ok=True)
    name = f"unique-speech-{args.minutes:g}min.mp4"
    speech_video(media / name, args.minutes)
    work = Path(tempfile.mkdtemp(prefix="bench-p4-"))
    home = work / "airflow"
    script = EditorScript(refuse_word=None, error_at=0, rate_limit_first=False)
    with FileServer(media) as files, ScriptedOpenAI(script, delay_s=args.llm_delay) as llm:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("SCRIBEFLOW_", "OPENAI_", "AIRFLOW"))}
        env |= {"OPENAI_BASE_URL": llm.base_url, "OPENAI_API_KEY": "k", "OPENAI_MODEL": "m",
                "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT / "plugins")}
        airflow = airflow_env() | env | {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db?timeout=30"}
        ensure_metadata_db(airflow, work / "migrate.log")
        url = files.url(name)
        scribeflow = str(Path(sys.executable).with_name("scribeflow"))

        def pipeline(data: Path) -> None:
            subprocess.run([scribeflow, "run", url], env=airflow | {
                "SCRIBEFLOW_DATA": str(data)}, check=True, capture_output=True)

        def bare(data: Path) -> None:
            subprocess.run([sys.executable, "-c", BARE, url], env=env | {
                "SCRIBEFLOW_DATA": str(data)}, check=True, capture_output=True)

        sides = {"bare": bare, "pipeline": pipeline}
        seconds: dict[str, list[float]] = {side: [] for side in sides}
        requests: dict[str, list[int]] = {side: [] for side in sides}
        for i in range(args.runs):  # alternate which side goes first
            for side in (("bare", "pipeline") if i % 2 == 0 else ("pipeline", "bare")):
                before = len(llm.requests)
                data = work / f"{side}-{i}"
                seconds[side].append(timed(lambda s=side, d=data: sides[s](d)))
                requests[side].append(len(llm.requests) - before)
    summaries = [json.loads(path.read_text()) for i in range(args.runs)
                 for path in (work / f"pipeline-{i}" / "runs").glob("*/summary.json")]
    figures = summaries[-1]
    bare_s, pipeline_s = median(seconds["bare"]), median(seconds["pipeline"])
    print(json.dumps({
        "video_minutes": args.minutes, "audio_s": figures.get("duration"),
        "chunks": figures.get("chunks"), "runs_per_side": args.runs,
        "runs_s": {side: [round(s, 2) for s in v] for side, v in seconds.items()},
        # every run asked the LLM itself (fresh data folder, no sentence repeats)
        "llm_requests": requests, "pipeline_llm": [s.get("llm") for s in summaries],
        "bare_steps_s": round(bare_s, 2), "pipeline_s": round(pipeline_s, 2),
        "ratio_pipeline_over_bare": round(pipeline_s / bare_s, 3), "target": "<= 1.3",
    }, indent=2))


if __name__ == "__main__":
    main()
