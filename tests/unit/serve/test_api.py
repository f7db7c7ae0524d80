"""The HTTP search API (the same app the Airflow plugin mounts), over real HTTP semantics."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from scribeflow.core.config import PipelineSettings
from scribeflow.core.files import DataPaths
from scribeflow.core.records import ChunkRow
from scribeflow.index.store.parquet import ParquetStore
from scribeflow.serve.api import create_app
from support.http import settled_search_model

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
                 model="all-MiniLM-L6-v2", vector=tuple(float(x) for x in vec),
                 speakers=("Speaker 1",) if i < 2 else ("Speaker 2",))
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
    # the other two passages are below the similarity floor: not listed
    assert [h["text"] for h in hits] == [TEXTS[1]] and not hits[0]["weak"]
    assert hits[0]["speakers"] == ["Speaker 1"]
    # only Speaker 2's passage is searched: the nearest of weak matches
    (other,) = client.get("/api/search", params={"q": "bread", "speaker": "2"}).json()["hits"]
    assert other["text"] == TEXTS[2] and other["weak"]
    (invoice,) = client.get("/api/search", params={"q": "invoice 88213",
                                                   "speaker": "Speaker 2"}).json()["hits"]
    assert invoice["text"] == TEXTS[2] and invoice["speakers"] == ["Speaker 2"]


def test_when_nothing_reaches_the_floor_the_best_weak_matches_are_marked(client):
    hits = client.get("/api/search", params={"q": "quantum chromodynamics of gluons"}).json()["hits"]
    assert hits and all(h["weak"] for h in hits)
    assert all(h["similarity"] < 0.15 for h in hits)


@pytest.mark.parametrize(
    ("params", "status", "detail"),
    [
        ({"q": ""}, 400, "empty query: give a few words to search for"),
        ({"q": "x" * 10_000}, 400, "query too long: 10000 characters, at most 1000"),
        ({"q": "ok", "date_from": "1' OR '1'='1"}, 400, "filter date_from must be a date"),
        ({"q": "ok", "k": 0}, 400, "k must be between 1 and 100, not 0"),
        ({"q": "ok", "store": "mongo"}, 400, "unknown store 'mongo'"),
        ({"q": "ok", "speaker": "the host"}, 400, "filter speaker must be a speaker's number"),
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
    for name, kind in (("scribeflow.css", "text/css"), ("theme.js", "text/javascript")):
        asset = client.get(f"/assets/{name}")
        assert asset.status_code == 200 and asset.headers["content-type"].startswith(kind)
        assert f'assets/{name}"' in response.text
    assert client.get("/assets/..%2Fsearch.html").status_code == 404
    assert client.get("/assets/nope.js").json() == {"detail": "no asset 'nope.js'"}


def test_a_token_guards_every_route(data_dir):
    import fastapi

    from scribeflow.serve.api import token_guard

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
    for path in ("/", "/media/v", "/watch/v", "/assets/theme.js", "/api/docs", "/api/status",
                 "/api/docs-assets/swagger-ui.css"):
        assert guarded.get(path).status_code == 401, path


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


@pytest.fixture
def local_video(tmp_path, embedder):
    """A video processed from a local file: its metadata, decoded audio and stored rows."""
    from scribeflow.core.files import write_json_atomic
    from scribeflow.sources.download import file_video_id

    original = tmp_path / "media" / "lecture one.mp4"
    original.parent.mkdir()
    original.write_bytes(bytes(range(256)) * 40)
    video_id = file_video_id(original)
    data = DataPaths(tmp_path / "data")
    video = data.video(video_id)
    video.root.mkdir(parents=True)
    video.audio.write_bytes(b"RIFF" + bytes(996))
    write_json_atomic(video.metadata, {
        "video_id": video_id, "title": "lecture one", "channel": None, "upload_date": None,
        "duration": 120.0, "webpage_url": original.as_uri(), "source_url": str(original),
        "extractor": "file"})
    text = "Glaciers carve valleys as the ice slowly moves downhill."
    vector = embedder.encode([text], normalize_embeddings=True)[0]
    ParquetStore(data.parquet_store).upsert_video(video_id, [ChunkRow(
        id="g0", video_id=video_id, chunk_index=0, unit_index=0, start=61.4, end=70.0,
        text=text, title="lecture one", channel=None, upload_date=None, language="en",
        url=original.as_uri() + "#t=61", model="all-MiniLM-L6-v2",
        vector=tuple(float(x) for x in vector))])

    def settings(overrides=None):
        return PipelineSettings.from_env({**(overrides or {}), "data_dir": data.root})

    return TestClient(create_app(settings=settings, preload=False)), video_id, original, video


def test_a_hit_on_a_local_file_opens_the_player_at_its_second(local_video):
    client, video_id, original, _ = local_video
    (hit,) = client.get("/api/search", params={"q": "ice moving down a valley", "k": 1}).json()["hits"]
    assert hit["url"] == f"/watch/{video_id}?t=61"
    assert 0.3 < hit["similarity"] <= 1 and hit["score"] >= hit["similarity"]
    assert hit["start"] == hit["unit_start"] == 61.4  # a row without moments: its unit's start
    page = client.get(hit["url"])
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert f'src="../media/{video_id}#t=61"' in page.text and "<h1>lecture one</h1>" in page.text
    whole = client.get(f"/media/{video_id}")
    assert whole.status_code == 200 and whole.content == original.read_bytes()
    assert whole.headers["content-type"] == "video/mp4" and whole.headers["accept-ranges"] == "bytes"
    # seeking: the browser asks for a range and gets just those bytes
    part = client.get(f"/media/{video_id}", headers={"Range": "bytes=1000-1099"})
    assert part.status_code == 206 and part.content == original.read_bytes()[1000:1100]
    assert part.headers["content-range"] == f"bytes 1000-1099/{original.stat().st_size}"
    assert client.get(f"/media/{video_id}", headers={"Range": "bytes=99999-"}).status_code == 416


def test_the_player_falls_back_to_the_decoded_audio(local_video):
    client, video_id, original, video = local_video
    original.write_bytes(b"another file now")  # same path, other content: not this video
    response = client.get(f"/media/{video_id}")
    assert response.content == video.audio.read_bytes()
    assert response.headers["content-type"] in ("audio/wav", "audio/x-wav")
    original.unlink()
    assert client.get(f"/media/{video_id}").content == video.audio.read_bytes()
    video.audio.unlink()
    response = client.get(f"/media/{video_id}")
    assert response.status_code == 404
    assert response.json()["detail"] == f"video {video_id!r} has no media left to play"


def test_unknown_videos_are_404_with_the_cause(local_video):
    client, video_id = local_video[:2]
    for unknown in ("nope", "v", video_id[:-1]):
        for path in (f"/media/{unknown}", f"/watch/{unknown}"):
            response = client.get(path)
            assert response.status_code == 404, path
            assert response.json()["detail"] == f"no video {unknown!r} is stored"
    for path in ("/media/..%2F..%2Fetc%2Fpasswd", "/watch/%2E%2E%2Fdata", "/media/../data/x"):
        assert client.get(path).status_code == 404, path
    assert client.get(f"/watch/{video_id}", params={"t": "-3"}).status_code == 422


def test_web_video_hits_keep_their_own_links(client):
    for query, url in (("lava from a volcano", "http://x/v#t=0"),
                       ("bread and yeast", "http://x/v#t=61"),
                       ("invoice 88213 paid", "http://x/v#t=122")):
        hits = client.get("/api/search", params={"q": query, "k": 3}).json()["hits"]
        assert hits[0]["url"] == url, query


def test_the_api_docs_work_offline(client):
    page = client.get("/api/docs")
    assert page.status_code == 200
    assert "docs-assets/swagger-ui-bundle.js" in page.text and "cdn" not in page.text.lower()
    for name, kind in (("swagger-ui-bundle.js", "text/javascript"), ("swagger-ui.css", "text/css")):
        asset = client.get(f"/api/docs-assets/{name}")
        assert asset.status_code == 200 and asset.headers["content-type"].startswith(kind)
        assert len(asset.content) > 100_000
    assert client.get("/api/docs-assets/..%2F__init__.py").status_code == 404
    assert client.get("/api/openapi.json").json()["paths"]["/api/search"]


def test_the_model_loads_when_the_app_starts(data_dir):
    def settings(model):
        return lambda overrides=None: PipelineSettings.from_env(
            {**(overrides or {}), "data_dir": data_dir, "embed_model": model})

    for model, state in (("auto", "ready"), ("/no/such/model", "failed")):
        with TestClient(create_app(settings=settings(model))) as client:
            status = settled_search_model(client)
        assert status["state"] == state, status
    assert status["detail"].startswith("cannot load embedding model '/no/such/model'")
    assert TestClient(create_app(settings=settings("auto"), preload=False)).get(
        "/api/status").json()["search_model"] == {"state": "idle", "detail": ""}


def test_the_status_counts_searches_and_the_batches_that_answered_them(client):
    def counts():
        return client.get("/api/status").json()["batching"]

    before = counts()
    for q in ("bread", "volcano", "invoice"):
        assert client.get("/api/search", params={"q": q}).json()["hits"]
    after = counts()
    for name in ("query_embedding", "parquet_similarity"):
        assert after[name]["requests"] - before[name]["requests"] == 3, (name, before, after)
        assert 1 <= after[name]["batches"] - before[name]["batches"] <= 3


def test_the_player_streams_ranges_of_the_audio_from_the_bucket(s3, tmp_path):
    """With the data folder on object storage, the media comes from the bucket in ranges."""
    import json

    from scribeflow.core.objects import open_storage
    from scribeflow.serve.player import byte_range

    bucket = s3.new_bucket()
    url = f"s3://{bucket}/data"
    options = {"key": s3.key, "secret": s3.secret, "client_kwargs": {"endpoint_url": s3.endpoint}}
    storage = open_storage(url, options)
    audio = bytes(range(256)) * 40
    storage.write_bytes("videos/generic-talk/metadata.json", json.dumps({
        "video_id": "generic-talk", "title": "A talk", "extractor": "generic",
        "webpage_url": "http://127.0.0.1/talk.mp4"}).encode())
    storage.write_bytes("videos/generic-talk/audio.wav", audio)

    def settings(overrides=None):
        return PipelineSettings.from_env({**(overrides or {}), "data_dir": url})

    client = TestClient(create_app(settings=settings, preload=False,
                                   storage=lambda s: open_storage(s.data_url, options)))
    whole = client.get("/media/generic-talk")
    assert whole.status_code == 200 and whole.content == audio
    assert whole.headers["content-type"] in ("audio/wav", "audio/x-wav")
    part = client.get("/media/generic-talk", headers={"Range": "bytes=1000-1099"})
    assert part.status_code == 206 and part.content == audio[1000:1100]
    assert part.headers["content-range"] == f"bytes 1000-1099/{len(audio)}"
    tail = client.get("/media/generic-talk", headers={"Range": "bytes=-10"})
    assert tail.status_code == 206 and tail.content == audio[-10:]
    assert client.get("/media/generic-talk", headers={"Range": "bytes=99999-"}).status_code == 416
    page = client.get("/watch/generic-talk", params={"t": 3})
    assert page.status_code == 200 and "<h1>A talk</h1>" in page.text
    assert client.get("/media/nope").json()["detail"] == "no video 'nope' is stored"
    storage.fs.rm_file(storage.key("videos/generic-talk/audio.wav"))
    gone = client.get("/media/generic-talk")
    assert gone.status_code == 404
    assert gone.json()["detail"] == "video 'generic-talk' has no media left to play"
    assert byte_range(None, 10) is None and byte_range("bytes=2-", 10) == (2, 9)
    for bad in ("bytes=10-", "bytes=5-2", "items=0-1", "bytes=-"):
        with pytest.raises(ValueError):
            byte_range(bad, 10)


def test_a_videos_results_page_lists_its_files_plays_it_and_names_its_run(local_video):
    client, video_id, original, video = local_video
    video.root.joinpath("document.html").write_text("<h1>Glaciers</h1><p>The ice moves.</p>")
    video.root.joinpath("document.pdf").write_bytes(b"%PDF-1.7 glaciers")
    video.root.joinpath("transcript.srt").write_text("1\n00:00:01,000 --> 00:00:02,000\nIce\n")
    video.root.joinpath("transcript.de.vtt").write_text("WEBVTT\n\n00:00:01.000 --> "
                                                         "00:00:02.000\nEis\n")
    video.root.joinpath("document.xx.md").write_text("# not a language")  # not served
    video.root.joinpath("chunks.json").write_text("[]")  # not a user's file: not served
    run_id = "manual__2026-12-03T18:02:39.097546+00:00"
    page = client.get(f"/videos/{video_id}", params={"run": run_id})
    assert page.status_code == 200 and "<h1>lecture one</h1>" in page.text
    links = dict(re.findall(r'<li><a href="([^"]+)">([^<]+)</a>', page.text))
    assert links == {f"{video_id}/files/document.html": "Document (web page)",
                     f"{video_id}/files/document.pdf": "Document (PDF)",
                     f"{video_id}/files/transcript.srt": "Subtitles (SRT)",
                     f"{video_id}/files/transcript.de.vtt": "Subtitles in German (WebVTT)"}
    german = client.get(f"/videos/{video_id}/files/transcript.de.vtt")
    assert german.text.endswith("Eis\n") and german.headers["content-type"].startswith("text/vtt")
    assert f'href="../watch/{video_id}?t=0"' in page.text  # the player
    assert 'href="../../dags/video_pipeline/runs/manual__2026-12-03T18%3A02%3A39.097546%2B00%3A00"' \
        in page.text and "window.parent.history.pushState" in page.text  # shown by the UI
    assert f'<iframe class="document" title="Document" src="{video_id}/files/document.html">' \
        in page.text
    pdf = client.get(f"/videos/{video_id}/files/document.pdf")
    assert pdf.content == b"%PDF-1.7 glaciers" and pdf.headers["content-type"] == "application/pdf"
    srt = client.get(f"/videos/{video_id}/files/transcript.srt")
    assert srt.text.endswith("Ice\n") and srt.headers["content-type"].startswith("application/x-subrip")
    # without the run: no run line; without the media: no player
    original.unlink()
    video.audio.unlink()
    bare = client.get(f"/videos/{video_id}").text
    assert 'id="run"' not in bare and 'id="play"' not in bare


def test_results_pages_refuse_what_is_not_a_videos_result_in_one_line(local_video):
    client, video_id = local_video[:2]
    assert client.get("/videos/nope").json()["detail"] == "no video 'nope' is stored"
    for name, detail in (("chunks.json", "'chunks.json' is not a file of a video's results"),
                         ("metadata.json", "'metadata.json' is not a file of a video's results"),
                         ("document.xx.md", "'document.xx.md' is not a file of a video's results"),
                         ("transcript.de.srt", f"video {video_id!r} has no transcript.de.srt"),
                         ("quiz.pdf", f"video {video_id!r} has no quiz.pdf")):
        response = client.get(f"/videos/{video_id}/files/{name}")
        assert response.status_code == 404 and response.json()["detail"] == detail, name
    for path in (f"/videos/{video_id}/files/..%2Fmetadata.json", "/videos/..%2F..%2Fetc/files/x",
                 "/videos/%2E%2E/files/document.pdf"):
        assert client.get(path).status_code == 404, path


def test_a_results_page_reads_the_bucket_when_the_data_is_on_object_storage(s3):
    import json

    from scribeflow.core.objects import open_storage

    bucket = s3.new_bucket()
    url = f"s3://{bucket}/data"
    options = {"key": s3.key, "secret": s3.secret, "client_kwargs": {"endpoint_url": s3.endpoint}}
    storage = open_storage(url, options)
    storage.write_bytes("videos/generic-talk/metadata.json", json.dumps({
        "video_id": "generic-talk", "title": "A talk", "extractor": "generic",
        "webpage_url": "http://127.0.0.1/talk.mp4"}).encode())
    storage.write_bytes("videos/generic-talk/transcript.vtt", b"WEBVTT\n\n00:01.000 --> 00:02.000\nHi\n")

    def settings(overrides=None):
        return PipelineSettings.from_env({**(overrides or {}), "data_dir": url})

    client = TestClient(create_app(settings=settings, preload=False,
                                   storage=lambda s: open_storage(s.data_url, options)))
    page = client.get("/videos/generic-talk")
    assert page.status_code == 200 and "<h1>A talk</h1>" in page.text
    assert 'href="http://127.0.0.1/talk.mp4"' in page.text  # the source
    assert re.findall(r'<li><a href="([^"]+)"', page.text) == ["generic-talk/files/transcript.vtt"]
    vtt = client.get("/videos/generic-talk/files/transcript.vtt")
    assert vtt.text.startswith("WEBVTT") and vtt.headers["content-type"].startswith("text/vtt")
