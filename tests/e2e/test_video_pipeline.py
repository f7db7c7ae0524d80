"""``video_pipeline`` end to end through Airflow (``dag.test()``) on real components.

A video synthesised by espeak-ng + ffmpeg from a known script is downloaded by yt-dlp from
a local HTTP server, transcribed by the real tiny.en model, polished by a real local
OpenAI-compatible server with scripted, messy answers, embedded by the real
all-MiniLM-L6-v2 and stored in Parquet.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from e2e.conftest import SCRIBEFLOW, VIDEO_ID, clean_env, process_talk

from scribeflow.core.config import PipelineSettings
from scribeflow.core.files import read_json
from scribeflow.core.links import clock
from scribeflow.index.embedding import count_tokens, split_units, token_limit
from scribeflow.index.search import search
from scribeflow.index.store.parquet import ParquetStore
from support.media import SCRIPT
from support.openai_server import stage_of

pytestmark = pytest.mark.e2e

WER_BOUND = 0.15  # measured 0.057 for tiny.en on this espeak-ng script


@pytest.fixture(scope="module")
def processed(media, run_pipeline, tmp_path_factory):
    yield from process_talk(media, run_pipeline, tmp_path_factory)


def normalise(text: str) -> list[str]:
    return re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split()


def test_chapters_quality_and_rendered_documents(processed):
    chapters = read_json(processed.video.chapters)["chapters"]
    titles = [c["title"] for c in chapters]
    assert titles[0] == "Introduction" and chapters[0]["start"] == 0.0
    assert {"Volcanoes", "Jupiter"} <= set(titles)
    assert [c["start"] for c in chapters] == sorted(c["start"] for c in chapters)
    lines = processed.video.chapters_txt.read_text().splitlines()
    assert lines[0] == "00:00 Introduction" and all(re.match(r"^\d\d:\d\d \S", x) for x in lines)
    document = processed.video.document.read_text()
    assert "\n## Volcanoes\n" in document
    assert document.index("## Volcanoes") < document.lower().index("magma")
    assert processed.outcome.line("quality") == "87"
    assert read_json(processed.video.metadata)["video_id"] == VIDEO_ID
    processing = read_json(processed.video.processing)
    assert processing["quality"] == 87
    assert processing["prompt_versions"]["polish_sentences"] == "2"  # speaker labels kept
    assert processing["tokens"]["prompt"] > 0
    timings = processing["timings_s"]
    assert timings["transcribe"] > 0 and timings["document_stages"] > 0 and timings["quality"] > 0
    html = processed.video.document_html.read_text()
    assert '<h2 id="volcanoes">Volcanoes</h2>' in html
    assert "Quality score: <strong>87</strong>/100" in html
    assert processed.video.document_pdf.read_bytes().startswith(b"%PDF-")
    assert not processed.video.quiz.exists()  # quiz is off in this run


def test_run_succeeds_and_prints_summary(processed):
    out = processed.outcome
    assert out.code == 0, out.output
    assert out.line("status") == "success"
    assert out.line("video id") == VIDEO_ID
    assert out.line("language") == "en"
    assert int(out.line("chunks")) >= 4
    assert float(out.line("real-time factor")) > 0
    assert out.line("document") == str(processed.video.document)


def test_transcript_word_error_rate_is_bounded(processed):
    import jiwer

    transcript = read_json(processed.video.transcript)
    hypothesis = " ".join(s["text"] for s in transcript["segments"])
    wer = jiwer.wer(" ".join(normalise(" ".join(SCRIPT))), " ".join(normalise(hypothesis)))
    assert wer < WER_BOUND, (wer, hypothesis)
    words = [w for s in transcript["segments"] for w in s["words"]]
    assert words and all(w["start"] <= w["end"] for w in words)
    assert transcript["model"] == "tiny.en" and transcript["compute_type"] == "int8"


def test_subtitles_are_valid(processed):
    srt = processed.video.srt.read_text()
    blocks = [b for b in srt.strip().split("\n\n") if b]
    time_line = re.compile(r"^\d{2}:\d{2}:\d{2},\d{3} --> \d{2}:\d{2}:\d{2},\d{3}$")
    for n, block in enumerate(blocks, start=1):
        number, times, *text = block.splitlines()
        assert number == str(n) and time_line.match(times) and text
    vtt = processed.video.vtt.read_text()
    assert vtt.startswith("WEBVTT\n\n")
    cues = re.findall(r"^(\d{2}:\d{2}:\d{2}\.\d{3}) --> (\d{2}:\d{2}:\d{2}\.\d{3})$", vtt, re.M)
    assert len(cues) == len(blocks)
    assert all(start <= end for start, end in cues)


DOCUMENT_STAGES = ("polish_sentences", "format_markdown", "cleanup_markdown")


def test_llm_stages_ran_with_retries_refusal_fallback_and_no_preamble(processed):
    requests = processed.server.requests
    chunks = read_json(processed.video.chunks)
    stages = Counter(stage_of(r.prompt) for r in requests)
    # three stages per chunk, plus the 429 and 500 retried, plus one fallback call
    assert sum(stages[s] for s in DOCUMENT_STAGES) == (3 * len(chunks) + 2
                                                      + processed.script.refusals_sent)
    assert stages["quiz_question"] == 0 and stages["quality_score"] == 1
    assert stages["chapters"] >= 1
    assert processed.script.refusals_sent == 1
    assert any(r.model == "fallback-model" for r in requests)
    assert processed.script.preambles_sent >= 3
    document = processed.video.document.read_text()
    for tell in ("Certainly", "Here's a refined", "Here is the formatted", "Let me know",
                 "ensuring consistency", "\n---\n"):
        assert tell not in document
    assert document.startswith("# talk\n")
    assert document.count("\n### ") == len(chunks)  # chunk headings, under the chapters


def test_chunks_were_mapped_over_several_groups(processed):
    groups = sorted(processed.video.llm_dir.glob("group-*.json"))
    assert len(groups) >= 2
    indices = [row["index"] for g in groups for row in read_json(g)["chunks"]]
    assert indices == list(range(len(read_json(processed.video.chunks))))


def test_mapped_instances_are_labelled_by_what_they_hold(processed, airflow_home):
    import sqlite3

    run_id = read_json(processed.outcome.line("summary"))["run_id"]
    with sqlite3.connect(airflow_home / "airflow.db") as db:
        labels = dict(db.execute("SELECT map_index, rendered_map_index FROM task_instance WHERE "
                                 "dag_id = 'video_pipeline' AND task_id = 'write_document' AND "
                                 "run_id = ?", (run_id,)).fetchall())
    chunks = read_json(processed.video.chunks)
    groups = [read_json(g)["chunks"] for g in sorted(processed.video.llm_dir.glob("group-*.json"))]
    assert len(labels) == len(groups) >= 2
    for index, rows in enumerate(groups):
        first, last = chunks[rows[0]["index"]], chunks[rows[-1]["index"]]
        held = (f"chunk {first['index']}" if first is last
                else f"chunks {first['index']}–{last['index']}")
        assert labels[index] == f"{held}, {clock(first['start'])}–{clock(last['end'])}", labels


def test_a_clean_run_logs_no_errors(processed):
    # dag.test() writes every task's log into the run's log file; an error line there (such
    # as Airflow's "XCom not found" for a read past the mapped results) is a defect
    (log,) = (processed.data.root / "logs").glob("run-*[0-9].log")
    text = log.read_text()
    assert "write_document" in text and "embed_and_upsert" in text
    # the long steps say how far they got (every 10 s, and when they end)
    assert re.search(r"transcribe: [\d.]+ / [\d.]+ s of audio \(100%\), \d+:\d\d elapsed", text)
    assert re.search(r"write_document group 0: (\d+) / \1 chunk stages \(100%\)", text)
    errors = [line for line in text.splitlines()
              if re.search(r"\[error\s*\]|\bERROR\b|Traceback", line)]
    assert errors == [], errors


def test_summary_key_moments_point_where_their_sentences_were_said(processed):
    from scribeflow.pipeline.speakers import read_transcript
    from scribeflow.writing.summarize import read_summary

    summary = read_summary(processed.video.summary)
    duration = read_json(processed.video.metadata)["duration"]
    assert summary.ok and 3 <= len(summary.key_moments) <= 10
    assert summary.abstract.startswith("The talk opens:")
    words = [w for s in read_transcript(processed.video).segments for w in s.words]
    for moment in summary.key_moments:
        assert 0 <= moment.start <= duration
        # the word spoken at the moment is the first of the sentence the point quotes
        spoken = next(w for w in words if w.start >= moment.start - 0.01)
        assert normalise(spoken.word)[0] == normalise(moment.quote)[0], (moment, spoken)
    assert processed.outcome.line("key moments") == str(len(summary.key_moments))
    # the document opens with the title, the facts, the summary, then the linked chapters
    document = processed.video.document.read_text()
    order = [document.index(p) for p in ("# talk\n", "Source: [http://127.0.0.1:",
                                         "Duration: 00:5", "Language: English",
                                         "## Summary", "**Key moments**", "## Chapters",
                                         "## Introduction")]
    assert order == sorted(order)
    first = summary.key_moments[0]
    assert f"- [{clock(first.start)}](http://127.0.0.1:" in document
    assert f"#t={int(first.start)}) {first.point}" in document
    assert re.search(r"^2\. \[Volcanoes\]\(#volcanoes\) · \[00:\d\d\]\(http://127\.0\.0\.1:\d+"
                     r"/talk\.mp4#t=\d+\)$", document, re.M)
    # each chapter heading stands right before the sentence it starts with
    chapters = read_json(processed.video.chapters)["chapters"]
    for chapter in chapters[1:]:
        after = document.split(f"\n## {chapter['title']}\n\n", 1)[1]
        assert normalise(after)[:3] == normalise(chapter["sentence"])[:3], (chapter, after[:80])


def test_chunk_order_is_kept(processed):
    document = processed.video.document.read_text().lower()
    document = document[document.index("## introduction"):]  # the text, after the summary
    keywords = ["lesson", "magma", "flour", "jupiter", "piano"]
    positions = [document.find(k) for k in keywords]
    assert all(p >= 0 for p in positions), positions
    assert positions == sorted(positions)
    chunks = read_json(processed.video.chunks)
    assert [c["index"] for c in chunks] == list(range(len(chunks)))
    assert all(a["end"] <= b["start"] + 1e-6 for a, b in zip(chunks, chunks[1:], strict=False))


def test_one_row_per_embed_unit(processed, embedder):
    store = ParquetStore(processed.data.parquet_store)
    document_chunks = read_json(processed.video.document_chunks)
    expected = sum(len(split_units(c["text"], embedder)) for c in document_chunks)
    assert store.count(VIDEO_ID) == expected + 1  # and the summary
    import polars as pl

    frame = pl.read_parquet(processed.data.parquet_store / "*.parquet")
    assert frame["id"].n_unique() == frame.height
    assert all(count_tokens(embedder, t) <= token_limit(embedder) for t in frame["text"])
    assert set(frame["model"]) == {"all-MiniLM-L6-v2"}
    assert all(re.search(r"#t=\d+$", url) for url in frame["url"])


def test_search_finds_the_chunk_of_a_phrase(processed, embedder):
    settings = PipelineSettings(data_dir=processed.data.root)
    hits = search("melted rock pushes up through the crust", settings, k=3, embedder=embedder)
    assert hits and "magma" in hits[0].text.lower()
    hits = search("knead the dough with flour and yeast", settings, k=3, embedder=embedder)
    assert "flour" in hits[0].text.lower()
    chunk = next(c for c in read_json(processed.video.document_chunks) if "flour" in c["text"].lower())
    assert hits[0].unit_start == chunk["start"] <= hits[0].start <= chunk["end"]
    assert hits[0].url.endswith(f"#t={int(hits[0].start)}")


def test_search_command(processed):
    env = clean_env(SCRIBEFLOW_DATA=str(processed.data.root))
    proc = subprocess.run([SCRIBEFLOW, "search", "the largest planet in the solar system", "-k",
                           "2", "--json"], env=env, capture_output=True, text=True, check=True)
    hits = json.loads(proc.stdout)
    assert len(hits) == 2 and "jupiter" in hits[0]["text"].lower()
    assert set(hits[0]) == {"id", "video_id", "title", "text", "start", "end", "url", "score",
                            "channel", "upload_date", "language", "similarity", "weak",
                            "moment_offset", "unit_start", "speakers", "summary"}
    assert hits[0]["speakers"] == [] and not hits[0]["summary"]  # one voice, and the module looks for no speakers
    assert 0.3 < hits[0]["similarity"] <= 1 and hits[0]["similarity"] > hits[1]["similarity"]
    assert hits[0]["language"] == "en" and not hits[0]["weak"]
    # the hit lands where the answer is spoken ("It is the largest planet in our solar
    # system"), not at its unit's start
    words = [w for s in read_json(processed.video.transcript)["segments"] for w in s["words"]]
    said = next(w["start"] for w in words if "largest" in w["word"].lower())
    assert said - 8 <= hits[0]["start"] <= said + 1 and hits[0]["start"] > hits[0]["unit_start"]
    assert "largest planet" in hits[0]["text"][hits[0]["moment_offset"]:].lower()
    assert hits[0]["url"].endswith(f"#t={int(hits[0]['start'])}")
    human = subprocess.run([SCRIBEFLOW, "search", "magma and volcanoes", "-k", "1"], env=env,
                           capture_output=True, text=True, check=True).stdout
    assert re.match(r"^ 1\.  \d\d% match  talk  @ 00:00:\d\d  http://127\.0\.0\.1:\d+/talk\.mp4#t=\d+\n",
                    human), human
    empty = subprocess.run([SCRIBEFLOW, "search", "  "], env=env, capture_output=True, text=True)
    assert empty.returncode == 2
    assert empty.stderr.strip() == "error: empty query: give a few words to search for"


def test_rerun_reuses_everything_before_airflow_starts(processed, media, run_pipeline):
    """The same inputs again: ``scribeflow run`` finds the finished run and prints it without
    starting Airflow; nothing is run, asked or written."""
    requests_before = len(processed.server.requests)
    runs_before = sorted(processed.data.root.joinpath("runs").iterdir())
    logs_before = sorted(processed.data.root.joinpath("logs").iterdir())
    outcome = run_pipeline(media.url("talk.mp4"), processed.data.root, "--chunk-words", "25",
                           env=processed.env)
    assert outcome.code == 0, outcome.output
    first_run = processed.outcome.line("summary")
    assert outcome.output.startswith(f"video_pipeline on {media.url('talk.mp4')}: reused run ")
    assert outcome.line("summary") == first_run and outcome.line("status") == "success"
    assert len(processed.server.requests) == requests_before
    assert sorted(processed.data.root.joinpath("runs").iterdir()) == runs_before
    assert sorted(processed.data.root.joinpath("logs").iterdir()) == logs_before


def test_forced_rerun_reuses_transcript_llm_answers_and_rows(processed, media, run_pipeline):
    """``--force`` runs the DAG: every step finds its work done (no transcription, no LLM
    call, no embedding model loaded, no row or PDF written)."""
    requests_before = len(processed.server.requests)
    transcript_before = processed.video.transcript.read_bytes()
    document_before = processed.video.document.read_text()
    pdf_before = processed.video.document_pdf.stat().st_mtime_ns
    store_before = sorted(p.name for p in processed.data.parquet_store.iterdir())
    outcome = run_pipeline(media.url("talk.mp4"), processed.data.root, "--chunk-words", "25",
                           "--force", env=processed.env)
    assert outcome.code == 0, outcome.output
    assert len(processed.server.requests) == requests_before
    assert outcome.line("transcription") == "reused"
    chunks = len(read_json(processed.video.chunks))
    assert outcome.line("LLM") == f"0 requests, {3 * chunks} answers reused"
    assert outcome.line("embedding") == "nothing changed: no model loaded"
    assert processed.video.transcript.read_bytes() == transcript_before
    assert processed.video.document.read_text() == document_before
    assert processed.video.document_pdf.stat().st_mtime_ns == pdf_before
    assert sorted(p.name for p in processed.data.parquet_store.iterdir()) == store_before
    summary = json.loads(Path(outcome.line("summary")).read_text())
    clocks = summary["timings"]
    assert {"download", "transcribe", "render_outputs", "embed_and_upsert"} <= set(clocks)
    assert clocks["embed_and_upsert"]["model_load_s"] == 0
    assert clocks["transcribe"]["model_load_s"] == 0


def test_second_run_adds_no_rows(processed, media, run_pipeline):
    import polars as pl

    before = pl.read_parquet(processed.data.parquet_store / "*.parquet").sort("id")
    env = {"OPENAI_BASE_URL": processed.server.base_url, "OPENAI_API_KEY": "k",
           "OPENAI_MODEL": "other-model", "SCRIBEFLOW_MIN_CHUNKS_PER_GROUP": "2"}
    outcome = run_pipeline(media.url("talk.mp4"), processed.data.root, "--chunk-words", "25", env=env)
    assert outcome.code == 0, outcome.output
    after = pl.read_parquet(processed.data.parquet_store / "*.parquet").sort("id")
    assert after.height == before.height
    assert after["id"].to_list() == before["id"].to_list()


def test_no_llm_configured_still_completes(media, run_pipeline, tmp_path):
    outcome = run_pipeline(media.url("talk.mp4"), tmp_path / "data", "--chunk-words", "60")
    assert outcome.code == 0, outcome.output
    assert outcome.line("LLM") == "not configured: raw chunk text used"
    document = (tmp_path / "data" / "videos" / VIDEO_ID / "document.md").read_text()
    assert "volcanoes" in document.lower()
    assert ParquetStore(tmp_path / "data" / "store" / "chunks").count(VIDEO_ID) > 0


def test_the_run_updated_the_library_asset_and_the_digest_lists_its_summary(processed,
                                                                           airflow_home):
    import datetime as dt
    import sqlite3

    from scribeflow.library.digest import window_digest
    from scribeflow.writing.summarize import read_summary

    with sqlite3.connect(airflow_home / "airflow.db") as db:
        events = db.execute(
            "SELECT e.extra, e.source_task_id FROM asset_event e JOIN asset a ON "
            "a.id = e.asset_id WHERE a.name = 'scribeflow_library' AND "
            "e.source_dag_id = 'video_pipeline'").fetchall()
    extras = [json.loads(extra) for extra, task in events if task == "embed_and_upsert"]
    mine = [x for x in extras if x["video_id"] == VIDEO_ID]
    assert mine and mine[0]["language"] == "en" and mine[0]["title"] == "talk"
    assert mine[0]["new"] is True and mine[0]["source"] is None
    summary = read_summary(processed.video.summary)
    _, digest = window_digest(processed.data, None, dt.datetime.now(dt.UTC),
                              "http://127.0.0.1:8080/scribeflow")
    assert "## Your own runs" in digest and summary.abstract in digest
    first = summary.key_moments[0]
    assert re.search(rf"- \[{clock(first.start)}\]\(http://127\.0\.0\.1:\d+/talk\.mp4#t="
                     rf"{int(first.start)}\) {re.escape(first.point)}", digest)
