"""The HTTP search API (the same app the Airflow plugin mounts), over real HTTP semantics."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from scribeflow.api import create_app
from scribeflow.config import PipelineSettings
from scribeflow.files import DataPaths
from scribeflow.records import ChunkRow
from scribeflow.store.parquet import ParquetStore

TEXTS = ["Volcanoes erupt when magma rises through the crust.",
         "Bread rises because yeast makes gas in the dough.",
         "Invoice 88213 was paid by Zaragoza Logistics."]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory, embedder):
    root = tmp_path_factory.mktemp("api-data")
    vectors = embedder.encode(TEXTS, normalize_embeddings=True)
    ParquetStore(DataPaths(root).parquet_store).upsert_video("v", [
        ChunkRow(id=f"id{i}", video_id="v", chunk_index=i, unit_index=0, start=i * 61.0,
                 end=i * 61.0 + 9, text=t, title="Mixed <b>bag</b>", channel="Chan",
                 upload_date="2024-05-01", language="en", url=f"http://x/v#t={i * 61}",
                 model="all-MiniLM-L6-v2", vector=tuple(float(x) for x in vec))
        for i, (t, vec) in enumerate(zip(TEXTS, vectors, strict=True))
    ])
    return root


@pytest.fixture
def client(data_dir):
    def settings(overrides=None):
        return PipelineSettings.from_env({**(overrides or {}), "data_dir": data_dir})

    return TestClient(create_app(settings=settings))


def test_search_returns_hits_with_deep_links(client):
    response = client.get("/api/search", params={"q": "lava coming out of a mountain", "k": 2})
    assert response.status_code == 200
    body = response.json()
    assert body["query"] == "lava coming out of a mountain" and len(body["hits"]) == 2
    top = body["hits"][0]
    assert top["text"] == TEXTS[0] and top["url"] == "http://x/v#t=0"
    assert client.get("/api/search", params={"q": "88213"}).json()["hits"][0]["start"] == 122.0


def test_filters(client):
    assert client.get("/api/search", params={"q": "bread", "channel": "Nope"}).json()["hits"] == []
    hits = client.get("/api/search", params={"q": "bread", "date_from": "2024-01-01",
                                             "language": "en"}).json()["hits"]
    assert len(hits) == 3


@pytest.mark.parametrize(
    ("params", "status", "detail"),
    [
        ({"q": ""}, 400, "empty query: give a few words to search for"),
        ({"q": "x" * 10_000}, 400, "query too long: 10000 characters, at most 1000"),
        ({"q": "ok", "date_from": "1' OR '1'='1"}, 400, "filter date_from must be a date"),
        ({"q": "ok", "k": 0}, 400, "k must be between 1 and 100, not 0"),
        ({"q": "ok", "store": "mongo"}, 400, "unknown store 'mongo'"),
    ],
)
def test_bad_requests_get_one_line_causes(client, params, status, detail):
    response = client.get("/api/search", params=params)
    assert response.status_code == status
    assert response.json()["detail"].startswith(detail)


def test_unreachable_database_is_503_naming_the_host(data_dir, monkeypatch):
    monkeypatch.setenv("SCRIBEFLOW_PGVECTOR_DSN", "postgresql://u:pw-secret@127.0.0.1:1/vec")

    def settings(overrides=None):
        return PipelineSettings.from_env({**(overrides or {}), "data_dir": data_dir})

    response = TestClient(create_app(settings=settings)).get(
        "/api/search", params={"q": "bread", "store": "pgvector"})
    assert response.status_code == 503
    assert response.json()["detail"].startswith("cannot reach PostgreSQL at 127.0.0.1:1/vec")
    assert "pw-secret" not in response.text


def test_store_of_another_model_is_409(tmp_path, embedder):
    vector = tuple(float(x) for x in embedder.encode(["bread"], normalize_embeddings=True)[0])
    ParquetStore(DataPaths(tmp_path).parquet_store).upsert_video("v", [
        ChunkRow(id="a", video_id="v", chunk_index=0, unit_index=0, start=0, end=1, text="bread",
                 title="t", channel=None, upload_date=None, language=None, url="http://x",
                 model="e5-small", vector=vector)])

    def settings(overrides=None):
        return PipelineSettings.from_env({**(overrides or {}), "data_dir": tmp_path})

    response = TestClient(create_app(settings=settings)).get("/api/search", params={"q": "bread"})
    assert response.status_code == 409
    assert "was built with e5-small, not all-MiniLM-L6-v2" in response.json()["detail"]


def test_unloadable_embedding_model_is_a_clear_error(client, monkeypatch):
    monkeypatch.setenv("SCRIBEFLOW_EMBED_MODEL", "/no/such/model")
    response = client.get("/api/search", params={"q": "bread"})
    assert response.status_code == 400
    assert response.json()["detail"].startswith("cannot load embedding model '/no/such/model'")


def test_page_is_served(client):
    response = client.get("/")
    assert response.status_code == 200
    assert "<title>Search transcripts" in response.text
    assert 'fetch("api/search?' in response.text and "textContent" in response.text


def test_a_token_guards_every_route(data_dir):
    import fastapi

    from scribeflow.api import token_guard

    def settings(overrides=None):
        return PipelineSettings.from_env({**(overrides or {}), "data_dir": data_dir})

    guarded = TestClient(create_app(
        settings=settings, dependencies=[fastapi.Depends(token_guard("t" * 20))]))
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "t" * 20}):
        response = guarded.get("/api/search", params={"q": "volcano"}, headers=headers)
        assert response.status_code == 401 and response.json()["detail"] == \
            "missing or wrong API token"
    ok = guarded.get("/api/search", params={"q": "volcano"},
                     headers={"Authorization": f"Bearer {'t' * 20}"})
    assert ok.status_code == 200 and ok.json()["hits"]


@pytest.mark.parametrize(("env", "message"), [
    ({}, "error: refusing to serve on 0.0.0.0 without an API token: set SCRIBEFLOW_API_TOKEN, "
         "or serve on 127.0.0.1"),
    ({"SCRIBEFLOW_API_TOKEN": "short"}, "error: SCRIBEFLOW_API_TOKEN is too short"),
])
def test_serve_refuses_a_public_address_without_a_token(env, message):
    import os
    import subprocess
    import sys
    from pathlib import Path

    base = {k: v for k, v in os.environ.items() if k != "SCRIBEFLOW_API_TOKEN"}
    proc = subprocess.run([str(Path(sys.executable).with_name("scribeflow")), "serve", "--host",
                           "0.0.0.0", "--port", "1"], env=base | env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2 and proc.stderr.strip().startswith(message), proc.stderr
