"""
### video_pipeline

One run per video: **download** (yt-dlp, any yt-dlp URL, `file://` or a local path) →
**transcribe** (faster-whisper, on the `cuda` queue) → **find speakers** (who spoke when,
on the same queue; subtitles) → **split into chunks** → per-group
**LLM document stages** (polished sentences → Markdown → cleanup, mapped with `.expand`) →
**assemble** `document.md` → **summarize** (an abstract and key moments), **chapters**,
**quiz** (when `quiz` is on), **quality score** and **translate** (into the languages of
`translate_to`) → **render** HTML and PDF (and the interactive quiz) → **embed and upsert**
every language's chunks and the summary into the vector store, which records an event of
the `scribeflow_library` asset (the `digest` DAG is scheduled on it). Work done before (same
audio and model, same prompt, input and model) is reused.

Trigger it from the UI with the form (only `url` is required) or with
`scribeflow run URL`. Artifacts land in `$SCRIBEFLOW_DATA/videos/<video_id>/`; the run's
summary (including the one-line cause of a failure) in `$SCRIBEFLOW_DATA/runs/<run_id>/`.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Param, dag

from scribeflow.core.config import (
    RUN_PARAM_BOUNDS,
    STORES,
    TRANSCRIBERS,
    DeploymentSettings,
    run_param_defaults,
)
from scribeflow.core.languages import LANGUAGES
from scribeflow_airflow import tasks
from scribeflow_airflow.assets import LIBRARY
from scribeflow_airflow.steps import step

DEPLOYMENT = DeploymentSettings.from_env()
TRANSCRIBE_QUEUE = DEPLOYMENT.transcribe_queue
LLM_POOL = DEPLOYMENT.llm_pool
#: Downloads share one pool; SCRIBEFLOW_DOWNLOAD_POOLS gives sites pools of their own
#: (plugins/airflow_local_settings.py routes each download by its URL's site).
DOWNLOAD_POOL = DEPLOYMENT.download_pool
#: The form's defaults are this deployment's settings (SCRIBEFLOW_*): a run triggered without
#: a param uses what the deployment sets, as the model host and `scribeflow doctor` report.
DEFAULTS = run_param_defaults()
ADVANCED = "Advanced"

CHANNEL_RUNS = "Set by channel runs"


@dag(
    dag_id="video_pipeline",
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=4,
    tags=["scribeflow", "video"],
    doc_md=__doc__,
    default_args={
        "owner": "scribeflow",
        "retries": 2,
        "retry_delay": timedelta(seconds=20),
        "retry_exponential_backoff": True,
    },
    # The form: what a run is about first; what few change in "Advanced"; what channel runs
    # set in a section of its own (both start collapsed).
    params={
        "url": Param(type="string", minLength=1, title="Video URL or local file",
                     description="A video page (YouTube or any site yt-dlp knows), a media URL, "
                                 "a file:// URL or a path the workers read (with Docker: "
                                 "/media/<file> for a file in ./media)."),
        "language": Param(DEFAULTS["language"], type="string", enum=["auto", *LANGUAGES],
                          title="Language",
                          description="The spoken language's code (en, de, es, zh, …), or auto "
                                      "to detect it. On the CPU, auto reads English with the "
                                      "bundled tiny.en and any other language (or one to "
                                      "detect) with the bundled multilingual base; on a GPU, "
                                      "large-v3 reads 99 languages."),
        "translate_to": Param(list(DEFAULTS["translate_to"]), type="array",
                              items={"type": "string", "enum": list(LANGUAGES)},
                              uniqueItems=True, title="Translate into",
                              description="Languages the subtitles and the document are also "
                                          "made in (transcript.<lang>.srt/.vtt, "
                                          "document.<lang>.md/.html), each searchable: English "
                                          "by whisper itself, any language by the LLM."),
        "chunk_words": Param(DEFAULTS["chunk_words"], type="integer",
                             minimum=RUN_PARAM_BOUNDS["chunk_words"][0],
                             maximum=RUN_PARAM_BOUNDS["chunk_words"][1],
                             title="Words per chunk",
                             description="The size of the pieces the LLM polishes one at a time "
                                         "and of a search hit; chunks end at sentence ends. "
                                         "Smaller: finer search hits, more LLM calls."),
        "summary": Param(DEFAULTS["summary"], type="boolean", title="Write a summary",
                         description="An abstract and the key moments, each linked to its "
                                     "second in the video (needs an LLM): at the top of the "
                                     "document, in search and in the channel digests."),
        "quiz": Param(DEFAULTS["quiz"], type="boolean", title="Write a quiz",
                      description="Multiple-choice questions from the document (needs an LLM), "
                                  "as an interactive page and a PDF."),
        "quiz_per_chunk": Param(DEFAULTS["quiz_per_chunk"], type="integer",
                                minimum=RUN_PARAM_BOUNDS["quiz_per_chunk"][0],
                                maximum=RUN_PARAM_BOUNDS["quiz_per_chunk"][1], title="Quiz questions per chunk",
                                description="How many questions each chunk of the document "
                                            "gets, when the quiz is on."),
        "transcriber": Param(DEFAULTS["transcriber"], type="string",
                             enum=list(TRANSCRIBERS), title="Transcriber",
                             description="local (faster-whisper on the transcribe queue) or "
                                         "endpoint (an OpenAI-compatible /audio/transcriptions: "
                                         "connection openai_transcription).",
                             section=ADVANCED),
        "whisper_model": Param(DEFAULTS["whisper_model"], type="string", title="Whisper model",
                               description="auto (CPU: tiny.en for English, base otherwise; "
                                           "GPU: large-v3), tiny.en (English only) or base "
                                           "(99 languages), both bundled and offline, another "
                                           "faster-whisper name (small, medium, large-v3: "
                                           "downloaded) or a model folder on the workers.",
                               section=ADVANCED),
        "subtitle_chars": Param(DEFAULTS["subtitle_chars"], type="integer",
                                minimum=RUN_PARAM_BOUNDS["subtitle_chars"][0],
                                maximum=RUN_PARAM_BOUNDS["subtitle_chars"][1],
                                title="Subtitle characters per line",
                                description="0: 42 (16 in Chinese and Japanese), the broadcast "
                                            "rule; cues also stay 0.83-7 s on screen at most 20 "
                                            "characters a second.", section=ADVANCED),
        "subtitle_lines": Param(DEFAULTS["subtitle_lines"], type="integer",
                                minimum=RUN_PARAM_BOUNDS["subtitle_lines"][0],
                                maximum=RUN_PARAM_BOUNDS["subtitle_lines"][1],
                                title="Subtitle lines per cue",
                                description="At most this many lines on screen at once (1 for "
                                            "a compact player; 2, the broadcast rule).",
                                section=ADVANCED),
        "diarize": Param(DEFAULTS["diarize"], type="boolean", title="Find who spoke when",
                         description="Speaker labels in the subtitles, the document and search "
                                     "(speakers.json), found on the transcribe queue.",
                         section=ADVANCED),
        "num_speakers": Param(DEFAULTS["num_speakers"], type="integer",
                              minimum=RUN_PARAM_BOUNDS["num_speakers"][0],
                              maximum=RUN_PARAM_BOUNDS["num_speakers"][1],
                              title="Number of speakers",
                              description="How many people speak, when you know (0: find "
                                          "out, between the two bounds below).",
                              section=ADVANCED),
        "min_speakers": Param(DEFAULTS["min_speakers"], type="integer",
                              minimum=RUN_PARAM_BOUNDS["min_speakers"][0],
                              maximum=RUN_PARAM_BOUNDS["min_speakers"][1],
                              title="At least this many speakers",
                              description="The fewest speakers the count found may be, when it "
                                          "is found (number of speakers 0).",
                              section=ADVANCED),
        "max_speakers": Param(DEFAULTS["max_speakers"], type="integer",
                              minimum=RUN_PARAM_BOUNDS["max_speakers"][0],
                              maximum=RUN_PARAM_BOUNDS["max_speakers"][1],
                              title="At most this many speakers",
                              description="The most speakers the count found may be; at least "
                                          "the fewest.",
                              section=ADVANCED),
        "store": Param(DEFAULTS["store"], type="string",
                       enum=list(STORES), title="Vector store",
                       description="parquet (a local folder) or pgvector (connection "
                                   "scribeflow_pgvector or SCRIBEFLOW_PGVECTOR_DSN).",
                       section=ADVANCED),
        "download_sleep_min": Param(0, type="number", minimum=0, title="Pause before download: "
                                    "at least (s)",
                                    description="A pause drawn uniformly between the two "
                                                "numbers before downloading, for a site that "
                                                "throttles; 0 and 0: none.",
                                    section=ADVANCED),
        "download_sleep_max": Param(0, type="number", minimum=0, title="Pause before download: "
                                    "at most (s)", description="The pause's longest draw; at least its minimum.",
                                    section=ADVANCED),
        "source": Param(None, type=["null", "string"], title="Source",
                        description="The channel DAG's source that triggered this run; empty "
                                    "for a run of your own.", section=CHANNEL_RUNS),
        "video_id": Param(None, type=["null", "string"], title="Video id",
                          description="The id the channel's listing gave this video (a feed "
                                      "entry's: its feed and guid), so that two feeds' files "
                                      "of one name stay two videos; empty: the site's own id.",
                          section=CHANNEL_RUNS),
        "cookies_conn_id": Param(None, type=["null", "string"], title="Cookies connection",
                                 description="A connection holding a Netscape cookies file "
                                             "for the video site (in its password), for sites "
                                             "that ask for a login.", section=CHANNEL_RUNS),
    },
)
def video_pipeline():
    audio = step(tasks.download_audio, task_id="download", pool=DOWNLOAD_POOL)()
    transcript = step(tasks.transcribe, queue=TRANSCRIBE_QUEUE)(audio)
    transcript = step(tasks.find_speakers, queue=TRANSCRIBE_QUEUE)(transcript)
    groups = step(tasks.split_into_chunks)(transcript)
    # the grid labels each mapped instance by the part of the video it holds
    parts = step(tasks.write_document, pool=LLM_POOL,
                 map_index_template="{{ task.op_kwargs['group']['label'] }}").expand(group=groups)
    document = step(tasks.assemble_document)(transcript, parts)
    summary = step(tasks.summarize, pool=LLM_POOL)(document)
    chapters = step(tasks.write_chapters, pool=LLM_POOL)(document)
    quiz = step(tasks.write_quiz, pool=LLM_POOL)(document)
    quality = step(tasks.score_quality, pool=LLM_POOL)(document)
    translated = step(tasks.translate, pool=LLM_POOL)(document)
    rendered = step(tasks.render_outputs)(document, summary, chapters, quiz, quality)
    # every language's rows at once; the library's asset gets an event per video stored
    translated >> step(tasks.embed_and_upsert, outlets=[LIBRARY])(rendered)


video_pipeline()
