"""The summarize stage on a video's files: written, skipped with its reason, or failed
visibly (never a stored answer), against a real local LLM server."""

from __future__ import annotations

import pytest

from scribeflow.core.config import PipelineSettings
from scribeflow.core.endpoints import LLMSettings
from scribeflow.core.files import DataPaths, write_json_atomic
from scribeflow.pipeline.summarize import summarize_video, summary_input
from scribeflow.writing.summarize import read_summary
from support.openai_server import EditorScript, Reply, ScriptedOpenAI
from support.videos import make_video

TEXTS = ["Welcome to this lesson about the water cycle and the sun.",
         "Next we talk about volcanoes and hot melted rock called magma.",
         "Finally we bake bread with flour, water, salt and yeast."]


@pytest.fixture
def video(tmp_path) -> tuple[str, PipelineSettings]:
    settings = PipelineSettings.from_env({"data_dir": tmp_path / "data"})
    video_dir = make_video(settings.data_dir, TEXTS)
    write_json_atomic(DataPaths(settings.data_dir).video("file-abc").chunks, [
        {"index": i, "start": 10.0 * i, "end": 10.0 * i + 9, "text": t}
        for i, t in enumerate(TEXTS)])
    return video_dir, settings


def llm(server) -> LLMSettings:
    return LLMSettings(base_url=server.base_url, api_key="k", model="m", max_attempts=2)


def test_a_summary_with_key_moments_where_each_was_said(video):
    video_dir, settings = video
    with ScriptedOpenAI(EditorScript(error_at=0, rate_limit_first=False)) as server:
        result = summarize_video(video_dir, llm(server), settings)
    summary = read_summary(DataPaths(settings.data_dir).video("file-abc").summary)
    assert result.key_moments == 3 and result.failed is None and summary.ok
    assert [m.start for m in summary.key_moments] == [0.0, 10.0, 20.0]
    assert summary.covered_s == summary.duration_s == 30.0 and not summary.partial


def test_skipped_without_llm_or_when_the_run_asks_for_none(video):
    video_dir, settings = video
    assert summarize_video(video_dir, LLMSettings(), settings).skipped == "no LLM configured"
    off = PipelineSettings.from_env({"data_dir": settings.data_dir, "summary": False})
    result = summarize_video(video_dir, LLMSettings(base_url="http://127.0.0.1:9", model="m"),
                             off)
    assert result.skipped == "the run asked for none"
    assert read_summary(DataPaths(settings.data_dir).video("file-abc").summary).skipped == \
        "the run asked for none"


def test_an_outage_or_an_unrelated_answer_fails_visibly_and_nothing_is_cached(video):
    video_dir, settings = video
    with ScriptedOpenAI(lambda r: Reply("down", status=503)) as server:
        result = summarize_video(video_dir, llm(server), settings)
    assert result.failed.startswith("the LLM could not be reached: ")
    summary = read_summary(DataPaths(settings.data_dir).video("file-abc").summary)
    assert summary.failed == result.failed and summary.abstract == ""
    with ScriptedOpenAI(lambda r: Reply('{"abstract": "Markets rallied.", "key_points": '
                                        '[{"point": "x", "quote": "Stocks rose."}]}')) as server:
        result = summarize_video(video_dir, llm(server), settings)
    assert "key points are in the transcript" in result.failed
    assert result.failed.startswith("no usable answer after 2 tries; last: m: 0 of its 1 key")
    kept = [p for p in (settings.data_dir / "cache").rglob("*.json") if p.name != "endpoints.json"]
    assert not kept  # no answer kept


def test_a_long_video_is_summarised_from_its_start_and_says_so(video):
    chunks = [{"text": "x" * 100, "end": 10.0 * (n + 1)} for n in range(10)]
    assert summary_input(chunks, 350) == (" ".join(["x" * 100] * 3), 30.0)
    assert summary_input(chunks[:1], 50) == ("x" * 50, 10.0)  # one long chunk: cut
