"""The library's routes: ``/api/ask`` against a real local LLM server, and the digests'
pages and feeds, from the same app the Airflow plugin mounts."""

from __future__ import annotations

import datetime as dt

import feedparser
import pytest
from fastapi.testclient import TestClient

from scribeflow.core.config import PipelineSettings
from scribeflow.core.endpoints import LLMSettings
from scribeflow.core.files import DataPaths
from scribeflow.library.digest import write_digest
from scribeflow.pipeline.rows import upsert_video_rows
from scribeflow.serve.api import create_app
from support.openai_server import EditorScript, Reply, ScriptedOpenAI
from support.videos import GOOD, add_video, make_video

TEXTS = ["Jupiter is the largest planet in the solar system, a gas giant with many moons.",
         "Volcanoes erupt when magma rises through cracks in the crust of the earth."]


@pytest.fixture(scope="module")
def data(tmp_path_factory, embedder) -> DataPaths:
    data = DataPaths(tmp_path_factory.mktemp("library-api") / "data")
    settings = PipelineSettings.from_env({"data_dir": data.root})
    upsert_video_rows(make_video(data.root, TEXTS, title="Science talk"), settings)
    add_video(data, "aaa", dt.datetime(2026, 11, 2, tzinfo=dt.UTC), "science", GOOD)
    write_digest(data, "scheduled__1", dt.datetime(2026, 11, 5, tzinfo=dt.UTC),
                 "http://testserver/scribeflow")
    return data


def client(data: DataPaths, llm: LLMSettings) -> TestClient:
    def settings(overrides=None):
        return PipelineSettings.from_env({**(overrides or {}), "data_dir": data.root})

    return TestClient(create_app(settings=settings, preload=False, llm=lambda: llm))


def llm(server) -> LLMSettings:
    return LLMSettings(base_url=server.base_url, api_key="k", model="m", max_attempts=2)


def test_ask_answers_with_citations_that_open_the_player(data):
    with ScriptedOpenAI(EditorScript(error_at=0, rate_limit_first=False)) as server:
        api = client(data, llm(server))
        body = api.get("/api/ask", params={"q": "Which planet is the biggest?"}).json()
        declined = api.get("/api/ask", params={"q": "Who won the football match?"}).json()
    assert body["found"] and body["text"].endswith("[1]")
    (cited,) = body["citations"]
    assert cited["number"] == 1 and cited["title"] == "Science talk"
    assert cited["url"] == "/watch/file-abc?t=0" and cited["clock"] == "00:00"
    assert "largest planet" in cited["text"]
    assert declined == declined | {"found": False, "citations": [], "passages": 0,
                                   "text": "The library does not hold an answer to this "
                                           "question."}


@pytest.mark.parametrize(("params", "status", "detail"), [
    ({"q": " "}, 400, "empty question: ask what you want to know, in a few words"),
    ({"q": "planets", "date_from": "soon"}, 400, "filter date_from"),
])
def test_bad_questions_are_400_with_their_cause(data, params, status, detail):
    response = client(data, LLMSettings(base_url="http://127.0.0.1:9", model="m")).get(
        "/api/ask", params=params)
    assert response.status_code == status and detail in response.json()["detail"]


def test_no_llm_is_503_and_an_outage_is_502(data):
    response = client(data, LLMSettings()).get("/api/ask", params={"q": "planets"})
    assert response.status_code == 503 and "no LLM configured" in response.json()["detail"]
    with ScriptedOpenAI(lambda r: Reply("down", status=503)) as server:
        response = client(data, llm(server)).get("/api/ask", params={"q": "largest planet"})
    assert response.status_code == 502
    assert response.json()["detail"].startswith("the LLM could not be reached")


def test_the_digests_are_listed_served_and_subscribed_to(data):
    api = client(data, LLMSettings())
    listing = api.get("/digests/")
    assert listing.status_code == 200
    assert 'href="2026-11-05T00-00-00Z/digest.html"' in listing.text
    assert 'href="2026-11-05T00-00-00Z/science.html"' in listing.text
    page = api.get("/digests/2026-11-05T00-00-00Z/digest.html")
    assert page.status_code == 200 and "Talk aaa" in page.text
    assert page.headers["content-type"].startswith("text/html")
    feed = api.get("/digests/feed.atom")
    assert feed.headers["content-type"] == "application/atom+xml"
    parsed = feedparser.parse(feed.content)
    assert not parsed.bozo and [e.title for e in parsed.entries] == ["Talk aaa"]
    assert api.get("/digests/2026-11-05T00-00-00Z/digest.md").text.startswith("# What your")
    for bad in ("/digests/periods.json", "/digests/2026-11-05T00-00-00Z/..%2Fperiods.json",
                "/digests/2026-11-05T00-00-00Z/nope.html", "/digests/feed-nope.atom",
                "/digests/runs/scheduled__1.json"):
        assert api.get(bad).status_code == 404, bad


def test_a_period_ending_within_a_second_is_listed_and_served(tmp_path):
    data = DataPaths(tmp_path / "data")
    add_video(data, "aaa", dt.datetime(2026, 11, 2, tzinfo=dt.UTC), "science", GOOD)
    write_digest(data, "asset_triggered__1",
                 dt.datetime(2026, 11, 5, 0, 0, 0, 250000, tzinfo=dt.UTC),
                 "http://testserver/scribeflow", scheduled=False)
    api = client(data, LLMSettings())
    assert 'href="2026-11-05T00-00-00.250000Z/digest.html"' in api.get("/digests/").text
    page = api.get("/digests/2026-11-05T00-00-00.250000Z/digest.html")
    assert page.status_code == 200 and "Talk aaa" in page.text
