"""Searches beside a model host embed their query there (the Airflow UI's api-server under
``make up``, ``scribeflow serve``, ``scribeflow search``): the same vector as a model loaded
in the server, refusals in the same words, and a host that does not answer is one warning
line, after which the search embeds the query itself. A real host on a Unix socket, the real
all-MiniLM-L6-v2."""

from __future__ import annotations

import time

import numpy as np
import pytest
from fastapi.testclient import TestClient

from scribeflow.core.config import PipelineSettings
from scribeflow.core.errors import BadInputError
from scribeflow.core.files import DataPaths
from scribeflow.core.records import ChunkRow
from scribeflow.hosts.model_client import ModelHostClient
from scribeflow.index.embedding import embed_query, embed_texts, query_batching
from scribeflow.index.search import ModelWarmup, search
from scribeflow.index.store.parquet import ParquetStore
from scribeflow.serve.api import create_app
from scribeflow.serve.queries import hosted_vector, query_vectors, warm
from support.http import settled_search_model
from support.model_hosts import served

TEXTS = ["Volcanoes erupt when magma rises through the crust.",
         "Bread rises because yeast makes gas in the dough."]
QUESTION = "how does lava come out of a mountain"


@pytest.fixture
def host(tmp_path):
    with served(tmp_path / "run" / "models.sock") as host:
        yield host


@pytest.fixture
def data_dir(tmp_path, embedder):
    ParquetStore(DataPaths(tmp_path).parquet_store).upsert_video("v", [
        ChunkRow(id=f"id{i}", video_id="v", chunk_index=i, unit_index=0, start=i * 10.0,
                 end=i * 10.0 + 9, text=text, title="Mixed", channel=None, upload_date=None,
                 language="en", url=f"http://x/v#t={i * 10}", model="all-MiniLM-L6-v2",
                 vector=tuple(float(x) for x in vector))
        for i, (text, vector) in enumerate(zip(TEXTS, embed_texts(embedder, TEXTS),
                                               strict=True))])
    return tmp_path


def test_a_search_embeds_its_query_on_the_model_host(host, data_dir, embedder):
    settings = PipelineSettings(data_dir=data_dir, model_host=host.address)
    assert np.allclose(hosted_vector(settings, QUESTION), embed_query(embedder, QUESTION),
                       atol=1e-5)
    here, before = query_batching()["requests"], host.requests
    hits = search(QUESTION, settings, k=2, query_vector=query_vectors(settings))
    assert [hit.text for hit in hits] == TEXTS
    assert host.requests == before + 1 and query_batching()["requests"] == here  # none here
    warmup = ModelWarmup(warm)  # a server's start: the host's model, nothing loaded here
    warmup._load(lambda: settings)
    assert warmup.to_dict() == {"state": "ready", "detail": f"model host {host.address}"}


def test_the_api_asks_the_host_and_says_so(host, data_dir):
    def settings(overrides=None):
        return PipelineSettings.from_env({**(overrides or {}), "data_dir": data_dir,
                                          "model_host": host.address})

    before = host.requests
    with TestClient(create_app(settings=settings)) as client:  # its start warms the host
        hits = client.get("/api/search", params={"q": QUESTION, "k": 2}).json()["hits"]
        assert [hit["text"] for hit in hits] == TEXTS
        status = settled_search_model(client)
    assert host.requests == before + 2 and status["detail"] == f"model host {host.address}"
    assert status["state"] == "ready"


def test_the_host_refuses_what_a_model_here_would_in_the_same_words(host, embedder):
    settings = PipelineSettings(model_host=host.address)
    long = "volcano " * 300
    with pytest.raises(BadInputError) as here:
        embed_query(embedder, long)
    with pytest.raises(BadInputError) as there:
        hosted_vector(settings, long)
    assert str(there.value) == str(here.value) == (
        "query too long: 300 word pieces, the embedding model takes at most 254")
    with pytest.raises(BadInputError, match="^bad query request: query must be a string$"):
        ModelHostClient(host.address).call({"op": "query", "query": 5})


def test_a_host_that_is_not_there_is_one_line_and_the_search_embeds_here(tmp_path, data_dir,
                                                                        caplog):
    gone = PipelineSettings(data_dir=data_dir, model_host=str(tmp_path / "none.sock"))
    with caplog.at_level("WARNING", logger="scribeflow.serve.queries"):
        hits = search(QUESTION, gone, k=2, query_vector=query_vectors(gone))
    assert [hit.text for hit in hits] == TEXTS
    (line,) = [r.getMessage() for r in caplog.records if r.name == "scribeflow.serve.queries"]
    assert line.startswith(f"model host not running at {tmp_path / 'none.sock'} ")
    assert line.endswith("; searching with a model loaded here")
    assert query_vectors(PipelineSettings(data_dir=data_dir)) is None  # no host: the model here


def test_a_server_starting_beside_its_host_waits_for_it_rather_than_loading_the_model(
        tmp_path):
    """``make up`` starts the host and the api-server at once, and the host loads its models
    before it serves: the server's warm-up waits for the host, and loads nothing itself."""
    address = tmp_path / "later.sock"
    settings = PipelineSettings(data_dir=tmp_path, model_host=str(address))
    here = query_batching()["requests"]
    warmup = ModelWarmup(warm)
    warmup.start(lambda: settings)
    assert warmup.to_dict()["state"] == "loading"  # no host yet: it waits
    with served(address) as later:
        for _ in range(600):
            if warmup.state != "loading":
                break
            time.sleep(0.1)
        assert warmup.to_dict() == {"state": "ready", "detail": f"model host {address}"}
        assert later.requests == 1 and query_batching()["requests"] == here


def test_a_host_that_never_answers_the_warm_up_is_one_line_and_the_model_loads_here(
        tmp_path, caplog):
    gone = PipelineSettings(data_dir=tmp_path, model_host=str(tmp_path / "none.sock"))
    with caplog.at_level("WARNING", logger="scribeflow.serve.queries"):
        assert warm(gone, wait_s=0.3) == ""  # loaded here
    (line,) = [r.getMessage() for r in caplog.records if r.name == "scribeflow.serve.queries"]
    assert line.startswith("model host not running at ") and line.endswith(
        "; searching with a model loaded here")
