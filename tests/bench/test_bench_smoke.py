"""Every benchmark runs in --quick mode and prints its figures (no timing is asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
EXPECTED = {
    "transcribe_overhead": "ratio_step_over_bare",
    "llm_stages": "ratio_median_over_ideal",
    "embed_throughput": "ratio_product_over_bare",
    "store_bench": "P6",
    "pipeline_overhead": "ratio_pipeline_over_bare",
    "mapped_task_overhead": "overhead_per_mapped_instance_s",
    "transcribe_sweep:settings": "P10",
    "transcribe_sweep:models": "P16",
    "search_load": "pgvector",
    "object_storage": "ratio_object_storage_over_local",
    "split_transcription": "wer_split_vs_whole",
    "retrieval_eval": "moment_within_8s",
    "diarization_eval": "D1",
    # its two paths run as two tests, so pytest-xdist runs them side by side
    "per_video_overhead:in_process": "ratio_first_run_host_over_tasks",
    "per_video_overhead:scheduler": "scheduler",
    "backlog_throughput": "ratio_cli_over_bare",
}  # feed_listing has its own test below


@pytest.mark.e2e
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_benchmark_quick_run_reports(name):
    script, _, only = name.partition(":")
    args = ["--only", only] if only else []
    proc = subprocess.run([sys.executable, str(BENCH / f"{script}.py"), "--quick", *args],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    figures = json.loads(proc.stdout[proc.stdout.index("{"):])
    assert EXPECTED[name] in figures
    DID_THE_WORK[name](figures)


def _transcribed(f: dict) -> None:  # every timed step call transcribed, as bare did
    assert f["step_reused"] == 0 and f["timed_step_calls"] >= 2
    assert f["words"]["step"] == f["words"]["bare"] and f["words"]["bare"][0] > 20


def _asked(f: dict) -> None:  # every run sent every question to the server
    assert f["requests"] == f["requests_expected"] == 120


def _pipeline_called_the_llm(f: dict) -> None:  # both sides asked the LLM the same questions
    assert f["llm_requests"]["bare"] == f["llm_requests"]["pipeline"]
    assert min(f["llm_requests"]["bare"]) >= 4 and f["chunks"] >= 1
    assert all(note.endswith(" 0 answers reused") for note in f["pipeline_llm"]), f


def _embedded(f: dict) -> None:  # every chunk went through the model, in units that fit
    assert f["units"] >= f["chunks"] > 0


def _stored_and_found(f: dict) -> None:  # the rows were written and the searches found them
    assert f["P6"]["pgvector_hnsw_recall_at_10"] >= 0.9
    assert f["P5"]["pgvector_bulk_rows_per_s"] > 0
    # the keyword side of both stores found the text most queries were taken from
    assert min(f["P6"]["queries_whose_source_text_was_found"].values()) >= 0.9 * f["queries"]
    assert set(f["P5"]["one_new_video_upsert_ms"]) == {"pgvector", "parquet"}


def _asked_over_the_real_library(f: dict) -> None:  # every question over stored moments
    assert f["library"]["real"] == 10 and f["library"]["moments"] > f["library"]["units"] > 10
    assert f["questions"] == len(f["rows"]) == 16 and all(r["top"] for r in f["rows"])
    assert f["recording_first"] >= 0.75  # the ranking works; its goal is in bench/README


def _served(f: dict) -> None:  # every request answered with hits, its query embedded
    for store in ("parquet", "pgvector"):
        for side in (f[store]["one_client"], f[store]["16_clients"]):
            assert side["requests"] > 0 and side["failed"] == 0, side
            assert side["without_hits"] == 0, side
            assert side["query_embedding"]["requests"] == side["requests"], side
            searched = side["parquet_similarity"]["requests"]
            assert searched == (side["requests"] if store == "parquet" else 0), side


def _swept(f: dict) -> None:  # every configuration, and the product, heard the speech
    assert len(f["configurations"]) == 7
    assert all(c["wer"] < 0.4 and c["median_s"] > 0 for c in f["configurations"].values()), f
    # the ratio comes from the product and the chosen configuration timed head to head
    assert [len(t) for t in f["head_to_head_s"].values()] == [1, 1], f


def _swept_models(f: dict) -> None:  # both models transcribed every input, timed
    rows = f["models"]  # --quick: four of the eight inputs
    assert len(rows) == 4 and all(set(r) == {"tiny.en", "base"} for r in rows.values())
    assert all(r[m]["median_s"] > 0 for r in rows.values() for m in r)
    # base heard each language as what it is, and read it; tiny.en could not
    for name, language in (("espeak-ng German", "de"), ("real basic_ref_zh.wav", "zh")):
        base = rows[name]["base"]
        assert base["detected"] == language and base["words"] > 0, base
        assert base.get("wer", base.get("cer")) < 0.5, base
    assert all(r["base"]["words"] > 0 and r["base"]["wer"] < 0.3
               for n, r in rows.items() if r["base"]["detected"] == "en")
    breaking = f["P16"]["subtitle_cues_breaking_rules"]
    assert breaking["after"] < breaking["before"], breaking


def _scheduled(f: dict) -> None:  # every timed run did its work under the scheduler
    assert f["task_instances"] == {"bench_single": 3, "bench_mapped": f["items"] + 2}


def _went_through_the_bucket(f: dict) -> None:  # both sides did the same work; the s3 side's
    # tasks moved the audio (16 kHz mono PCM: 1.92 MB a minute) up and back down for whisper
    assert f["llm_requests"]["local"] == f["llm_requests"]["s3"] and min(f["llm_requests"]["s3"]) >= 4
    assert min(f["tasks_that_moved_bytes"]) >= 10
    assert f["mb_in_per_audio_minute"] > 1.9 and f["mb_out_per_audio_minute"] > 1.9


def _split_and_sent(f: dict) -> None:  # the real model transcribed every piece, uncached
    assert f["pieces"] >= 2 and f["uploads"] == f["rounds"] * (1 + f["pieces"])
    assert min(f["words"].values()) > 100 and f["wer_whole"] < 0.3


def _paid_per_video_in_process(f: dict) -> None:  # every timed first run transcribed and
    # embedded; the re-runs reused; models were loaded by the tasks, or else by the host alone,
    # once
    ip = f["in_process"]
    for mode in ("tasks", "run_host"):
        assert ip[mode]["first"]["transcription"] == "done", ip[mode]
        assert ip[mode]["first"]["embedding"].endswith(" 0 unchanged")
        # forked by the run host in its mode alone
        assert ip[mode]["first"]["on_run_host"] is (mode == "run_host"), ip[mode]
    # --quick: the re-runs once, without hosts; no run with the model host alone
    assert "model_host" not in ip and set(ip["run_host"]) == {"first", "host_loads"}
    assert ip["tasks"]["rerun_dag"]["transcription"] == "reused"
    assert ip["tasks"]["rerun_dag"]["embedding"] == "nothing changed: no model loaded"
    assert ip["tasks"]["rerun_dag"]["on_run_host"] is False
    assert ip["tasks"]["rerun"]["reused_before_airflow"] is True
    assert ip["tasks"]["first"]["loads_in_tasks"] == {"whisper": 1, "speakers": 1,
                                                      "embedding": 1}
    assert ip["run_host"]["first"]["loads_in_tasks"] == {"whisper": 0, "speakers": 0,
                                                          "embedding": 0}
    assert set(ip["run_host"]["host_loads"].values()) == {1}
    assert "scheduler" not in f


def _paid_per_video_through_the_scheduler(f: dict) -> None:  # the deployment's run
    # transcribed; the host loaded each model once, the tasks none
    assert "in_process" not in f
    # --quick: the deployment with the model host alone, no sample run before the clip's
    assert set(f["scheduler"]) == {"model_host"}
    side = f["scheduler"]["model_host"]
    runs = side["videos"]["count"]
    assert side["first"] is None and side["videos"]["transcription"] == ["done"]
    assert side["loads_in_tasks"] == {"whisper": 0, "speakers": 0, "embedding": 0}
    host = side["host"]
    assert sorted(host["loads"].values()) == [1, 1, 1]
    # a transcription, speakers and an embedding a run, and the api-server's search warm-up
    # (its query embedded on the host; on a thread of its own, so it may not have come yet)
    assert 3 * runs <= host["requests"] <= 3 * runs + 1


def _told_the_speakers_apart(f: dict) -> None:  # every input's speech went through the model
    runs = f["D1"]["campplus"]
    assert all(run["found"]["windows"] > 10 for run in runs.values())
    assert runs["call"]["given"]["speakers_found"] == 2
    assert runs["one reader"]["found"]["speakers_found"] == 1


def _ingested_every_recording(f: dict) -> None:  # both sides stored every recording
    assert f["cli"]["videos"] == f["videos"] == len(f["cli"]["per_video"]) == 2
    assert f["cli"]["rows"] >= f["videos"] and f["bare"]["rows"] >= f["videos"]
    # the runs sent their models' work to the ingest's own model host: nothing loaded in them
    assert all(v.get("model_load_s", 0) == 0 for v in f["cli"]["per_video"].values())


DID_THE_WORK = {
    "transcribe_overhead": _transcribed,
    "llm_stages": _asked,
    "pipeline_overhead": _pipeline_called_the_llm,
    "mapped_task_overhead": _scheduled,
    "embed_throughput": _embedded,
    "store_bench": _stored_and_found,
    "retrieval_eval": _asked_over_the_real_library,
    "diarization_eval": _told_the_speakers_apart,
    "transcribe_sweep:settings": _swept,
    "transcribe_sweep:models": _swept_models,
    "search_load": _served,
    "object_storage": _went_through_the_bucket,
    "split_transcription": _split_and_sent,
    "per_video_overhead:in_process": _paid_per_video_in_process,
    "per_video_overhead:scheduler": _paid_per_video_through_the_scheduler,
    "backlog_throughput": _ingested_every_recording,
}


@pytest.mark.e2e
def test_feed_listing_benchmark_measured_real_listings():
    proc = subprocess.run([sys.executable, str(BENCH / "feed_listing.py"), "--quick"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    p9 = json.loads(proc.stdout[proc.stdout.index("{"):])["P9"]
    # the timed product path read all 1,000 entries over HTTP, several times (asserted inside
    # the script); backfills stop paging early, and every request reached the server
    weeks = p9["one_week_backfill_requests"]
    assert all(w["requests"] == w["served"] and w["uploads_in_week"] == 7 for w in weeks.values())
    assert weeks["1d_back"]["requests"] < weeks["365d_back"]["requests"] < \
        p9["whole_channel"]["requests"]
    assert p9["whole_channel"]["entries"] == 2000
