"""The ``scribeflow`` command's parser and entry point; each command lives with its kind
(``video``, ``channels``, ``services``)."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from scribeflow.cli.channels import cmd_ingest, cmd_migrate_ids
from scribeflow.cli.library import add_commands as add_library_commands
from scribeflow.cli.services import (
    cmd_doctor,
    cmd_models_serve,
    cmd_models_status,
    cmd_runs_serve,
    cmd_search,
    cmd_serve,
    cmd_up,
)
from scribeflow.cli.video import cmd_evaluate, cmd_reindex, cmd_run
from scribeflow.core.config import STORES, TRANSCRIBERS
from scribeflow.core.errors import ScribeflowError

if TYPE_CHECKING:
    pass


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scribeflow", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run video_pipeline on one video (in-process, dag.test)")
    run.add_argument("url", help="any yt-dlp URL, a file:// URL or a local file")
    run.add_argument("--language", help="spoken language code, or auto (default)")
    run.add_argument("--transcriber", choices=TRANSCRIBERS,
                     help="local (faster-whisper, default) or endpoint (an OpenAI-compatible "
                          "transcription endpoint: the openai_transcription connection)")
    run.add_argument("--whisper-model", dest="whisper_model",
                     help="auto (default), tiny.en or base (both bundled), another "
                          "faster-whisper name, or a model folder")
    run.add_argument("--translate-to", dest="translate_to", metavar="LANGS",
                     help="also make subtitles and the document in these languages (codes, "
                          "comma-separated: de,fr)")
    run.add_argument("--subtitle-chars", dest="subtitle_chars", type=int,
                     help="subtitle characters per line (default 42; 16 in Chinese or Japanese)")
    run.add_argument("--subtitle-lines", dest="subtitle_lines", type=int,
                     help="subtitle lines per cue (default 2)")
    run.add_argument("--no-diarize", dest="diarize", action="store_false", default=None,
                     help="do not find who spoke when")
    run.add_argument("--num-speakers", dest="num_speakers", type=int,
                     help="how many people speak, when known (default: find out)")
    run.add_argument("--min-speakers", dest="min_speakers", type=int,
                     help="at least this many speakers (default 1)")
    run.add_argument("--max-speakers", dest="max_speakers", type=int,
                     help="at most this many speakers (default 20)")
    run.add_argument("--chunk-words", dest="chunk_words", type=int, help="words per chunk")
    run.add_argument("--store", choices=STORES, help="vector store (default parquet)")
    run.add_argument("--no-summary", dest="summary", action="store_false", default=None,
                     help="no abstract and key moments (made by default when an LLM is set)")
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
    ingest.add_argument("--translate-to", dest="translate_to", metavar="LANGS")
    ingest.add_argument("--store", choices=STORES)
    ingest.add_argument("--quiz", action="store_true")
    ingest.add_argument("--parallel", type=int, metavar="N",
                        help="videos processed at once (default $SCRIBEFLOW_INGEST_PARALLEL, 2)")
    ingest.add_argument("--data-dir", dest="data_dir")
    ingest.set_defaults(func=cmd_ingest)

    migrate = sub.add_parser("migrate-ids", help="move feed videos stored under their media "
                             "file's name to their entries' feed-and-guid keys (once; again: "
                             "nothing moves)")
    migrate.add_argument("sources", nargs="*", metavar="SOURCE",
                         help="source names or feed URLs (default: every feed in the sources "
                              "file)")
    migrate.add_argument("--dry-run", dest="dry_run", action="store_true",
                         help="say what would move, move nothing")
    migrate.add_argument("--store", choices=STORES)
    migrate.add_argument("--data-dir", dest="data_dir")
    migrate.set_defaults(func=cmd_migrate_ids)

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
    find.add_argument("--speaker", metavar="N", help="only where this speaker is heard (the "
                      "number a video's transcript gives: 2 or 'Speaker 2'; best with --video)")
    find.add_argument("--store", choices=STORES)
    find.add_argument("--data-dir", dest="data_dir")
    find.add_argument("--json", action="store_true", help="machine-readable output")
    find.set_defaults(func=cmd_search)

    add_library_commands(sub)

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
                                   "else 3: whisper, the speaker model and the "
                                   "embedding model)")
    serve_models.add_argument("--preload", action="store_true",
                              help="load the configured whisper, speaker and embedding models "
                                   "before serving")
    serve_models.add_argument("--warm", action="store_true",
                              help="load the speaker and embedding models on a thread while "
                                   "serving (whisper's model: on first use, since runs may "
                                   "ask for another)")
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
