"""What decides whether ``scribeflow run`` may print an earlier run instead of running:
the key of a run's inputs, the connections read without Airflow, and the checks that
everything the run made is still there."""

from __future__ import annotations

import json
import sqlite3

import pytest

from scribeflow.core.config import PipelineSettings
from scribeflow.core.endpoints import LLMSettings
from scribeflow.core.errors import BadInputError
from scribeflow.core.files import DataPaths, write_json_atomic
from scribeflow.core.records import ChunkRow
from scribeflow.index.store.parquet import ParquetStore
from scribeflow.pipeline.reuse import (
    OUTPUTS,
    Done,
    Unknown,
    connection,
    find_done,
    llm_from,
    record_done,
    request_key,
    rows_digest,
)

LLM = LLMSettings(base_url="http://127.0.0.1:9/v1", model="m1")


@pytest.fixture
def clip(tmp_path):
    path = tmp_path / "clip.mp4"
    path.write_bytes(b"not really a video, but content all the same")
    return path


def key(clip, tmp_path, llm=LLM, **overrides):
    settings = PipelineSettings.from_env({"data_dir": tmp_path / "data"} | overrides)
    return request_key(str(clip), settings, llm, None)


def test_the_key_follows_what_decides_the_outputs(clip, tmp_path):
    base = key(clip, tmp_path)
    assert key(clip, tmp_path) == base
    copy = tmp_path / "elsewhere.mp4"
    copy.write_bytes(clip.read_bytes())
    assert key(copy, tmp_path) == base  # a file by its content, wherever it lies
    assert key(clip, tmp_path, max_llm_groups=1, whisper_threads=1) == base  # speed only
    changed = [key(clip, tmp_path, chunk_words=60), key(clip, tmp_path, quiz=True),
               key(clip, tmp_path, whisper_model="base"), key(clip, tmp_path, store="pgvector"),
               key(clip, tmp_path, llm=LLMSettings(base_url=LLM.base_url, model="m2")),
               key(clip, tmp_path, llm=LLMSettings())]
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    (prompts / "polish_sentences.md").write_text("---\nversion: x\n---\nShorter: {{ text }}\n")
    changed.append(key(clip, tmp_path, prompts=prompts))
    clip.write_bytes(b"other content")
    changed.append(key(clip, tmp_path))
    assert len({base, *changed}) == len(changed) + 1
    with pytest.raises(BadInputError, match="file not found"):
        key(tmp_path / "gone.mp4", tmp_path)
    url = request_key("https://example.com/watch?v=1", PipelineSettings.from_env(), LLM, None)
    assert url != request_key("https://example.com/watch?v=2", PipelineSettings.from_env(),
                              LLM, None)


def _metadata_db(path, **row):
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE connection (conn_id TEXT, host TEXT, schema TEXT, port INT, "
                   "extra TEXT, is_extra_encrypted BOOLEAN, password TEXT)")
        db.execute("INSERT INTO connection VALUES (:conn_id, :host, :schema, :port, :extra, "
                   ":is_extra_encrypted, :password)", row)
    return f"sqlite:///{path}?timeout=30"


def test_connections_are_read_where_tasks_find_them_without_airflow(tmp_path):
    as_json = {"AIRFLOW_CONN_OPENAI_DEFAULT": json.dumps(
        {"conn_type": "openai", "host": "http://llm:8000/v1", "password": "k",
         "extra": {"model": "m1"}})}
    assert connection("openai_default", as_json).extra == {"model": "m1"}
    as_uri = {"AIRFLOW_CONN_OPENAI_DEFAULT": "openai://:k@llm:8000/v1?model=m1"}
    found = connection("openai_default", as_uri)
    assert (found.host, found.port, found.extra, found.origin) == (
        "llm", 8000, {"model": "m1"}, "AIRFLOW_CONN_OPENAI_DEFAULT")
    database = _metadata_db(tmp_path / "airflow.db", conn_id="openai_default",
                            host="http://llm:8000/v1", schema=None, port=None,
                            extra='{"model": "m1"}', is_extra_encrypted=False, password="x")
    env = {"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": database}
    from_db = llm_from(env)
    assert (from_db.base_url, from_db.model, from_db.configured) == ("http://llm:8000/v1",
                                                                     "m1", True)
    assert llm_from(as_json).model == "m1"
    assert connection("other", env) is None
    assert connection("x", {"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "sqlite:////nowhere.db"}) is None
    encrypted = _metadata_db(tmp_path / "enc.db", conn_id="openai_default", host="h",
                             schema=None, port=None, extra="gAAAA...", is_extra_encrypted=True,
                             password=None)
    with pytest.raises(Unknown, match="encrypted extra"):
        connection("openai_default", {"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": encrypted})
    with pytest.raises(Unknown, match="not SQLite"):
        connection("openai_default",
                   {"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "postgresql+psycopg2://a@b/c"})
    with pytest.raises(Unknown, match=r"AIRFLOW_CONN_OPENAI_DEFAULT is not a connection \(not JSON\)"):
        connection("openai_default", {"AIRFLOW_CONN_OPENAI_DEFAULT": "{broken"})


def test_a_record_counts_only_while_everything_it_made_is_there(tmp_path):
    data = DataPaths(tmp_path / "data")
    store = ParquetStore(data.parquet_store)
    rows = [ChunkRow(id=f"r{i}", video_id="v", chunk_index=i, unit_index=0, start=0.0, end=1.0,
                     text=f"text {i}", title="T", channel=None, upload_date=None, language="en",
                     url="file:///v.mp4", model="m", vector=(1.0, 0.0), content_hash=f"h{i}")
            for i in range(2)]
    store.upsert_video("v", rows)
    done = Done(key="k1", run_id="manual__1", video_id="v", rows=2, rows_digest=rows_digest(rows),
                quiz=False)
    assert find_done(data, "k1", store) == (None, "not processed before with these inputs")
    record_done(data, done)
    assert find_done(data, "k1", store)[1].startswith("metadata.json, transcript.json")
    data.video("v").root.mkdir(parents=True)
    for name in OUTPUTS:
        (data.video("v").root / name).write_text("x")
    assert find_done(data, "k1", store)[1] == "the summary of run manual__1 is gone"
    write_json_atomic(data.run_summary("manual__1"), {"status": "success"})
    assert find_done(data, "k1", store) == (done, "")
    store.upsert_video("v", rows[:1])  # someone replaced the video's rows
    assert find_done(data, "k1", store) == (None, "the store's rows of the video changed")
    data.reuse_record("k2").parent.mkdir(parents=True, exist_ok=True)
    data.reuse_record("k2").write_text("{broken")
    assert find_done(data, "k2", store)[1] == "unreadable record k2.json"
