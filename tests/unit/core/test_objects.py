"""The data folder on object storage, against a real S3-compatible server on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from scribeflow.core.cache import LLMCache
from scribeflow.core.config import PipelineSettings, is_url
from scribeflow.core.errors import ConfigError
from scribeflow.core.objects import (
    PART_BYTES,
    checkout,
    open_storage,
    publish,
    storage_options_from_connection,
    working_copy,
)
from scribeflow.pipeline.summary import read_run_summary, update_run_summary


def _storage(s3, bucket: str, **overrides):
    options = {"key": s3.key, "secret": s3.secret,
               "client_kwargs": {"endpoint_url": s3.endpoint, "region_name": "us-east-1"}}
    return open_storage(f"s3://{bucket}/data", options | overrides)


@pytest.fixture
def bucket(s3) -> str:
    return s3.new_bucket()


def test_urls_and_folders_are_told_apart():
    assert is_url("s3://bucket/prefix") and is_url("gs://b") and is_url("az://c/d")
    assert not is_url("/srv/data") and not is_url("file:///srv/data") and not is_url(None)
    assert not is_url(Path("s3:/x"))


def test_settings_keep_the_url_and_work_in_this_hosts_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("SCRIBEFLOW_DATA", "s3://bucket/prefix/")
    monkeypatch.setenv("SCRIBEFLOW_WORKDIR", str(tmp_path / "work"))
    settings = PipelineSettings.from_env()
    assert settings.data_url == "s3://bucket/prefix"
    assert settings.data_dir == (tmp_path / "work").resolve()
    local = PipelineSettings.from_env({"data_dir": str(tmp_path / "d")})
    assert local.data_url is None and local.data_dir == (tmp_path / "d").resolve()
    assert PipelineSettings.from_env({"data_dir": "s3://other/p"}).data_url == "s3://other/p"


def test_an_airflow_aws_connection_gives_the_options_without_printing_them():
    options = storage_options_from_connection({
        "login": "AKIAEXAMPLE", "password": "s3cret",
        "extra": json.dumps({"endpoint_url": "http://minio:9000", "region_name": "eu-west-1"})})
    assert options == {"key": "AKIAEXAMPLE", "secret": "s3cret", "client_kwargs": {
        "endpoint_url": "http://minio:9000", "region_name": "eu-west-1"}}
    assert storage_options_from_connection({}) == {}


def test_large_files_stream_up_and_down_whole(s3, bucket, tmp_path):
    storage = _storage(s3, bucket)
    big = tmp_path / "audio.wav"
    big.write_bytes(os.urandom(PART_BYTES * 2 + 12345))  # three parts
    storage.upload(big, "videos/v/audio.wav")
    back = storage.download("videos/v/audio.wav", tmp_path / "back" / "audio.wav")
    assert back.read_bytes() == big.read_bytes()
    assert s3.keys(bucket) == ["data/videos/v/audio.wav"]
    assert storage.read_bytes("videos/v/missing.json") is None
    assert list((tmp_path / "back").iterdir()) == [back]  # no part file left


def test_checkout_leaves_media_behind_and_publish_sends_only_what_changed(s3, bucket, tmp_path):
    storage = _storage(s3, bucket)
    src = tmp_path / "src"
    for name, text in {"audio.wav": "RIFF", "metadata.json": "{}", "chunks.json": "[]",
                       "llm/group-000.json": "{}"}.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_text(text)
    assert publish(storage, src, "videos/v") == ["audio.wav", "chunks.json", "llm/group-000.json",
                                                 "metadata.json"]
    work = tmp_path / "work"
    copied = checkout(storage, "videos/v", work)
    assert sorted(copied) == ["chunks.json", "llm/group-000.json", "metadata.json"]
    assert not (work / "audio.wav").exists()
    (work / "document.md").write_text("# Doc")
    (work / "chunks.json").write_text("[1]")
    assert publish(storage, work, "videos/v", copied) == ["document.md", "chunks.json"]
    assert storage.read_bytes("videos/v/chunks.json") == b"[1]"
    assert "audio.wav" in checkout(storage, "videos/v", tmp_path / "media", media=True)


def test_the_lock_admits_one_holder_at_a_time_across_processes_and_threads(s3, bucket):
    storage = _storage(s3, bucket)
    inside, overlaps = [0], [0]

    def hold() -> None:
        for _ in range(3):
            with storage.lock("runs/r/summary.json"):
                inside[0] += 1
                overlaps[0] += inside[0] > 1
                time.sleep(0.02)
                inside[0] -= 1

    threads = [threading.Thread(target=hold) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert overlaps == [0]
    assert s3.keys(bucket) == []  # every lock was released


def test_a_lock_whose_holder_died_is_taken_over_after_its_lease(s3, bucket):
    storage = _storage(s3, bucket)
    storage.write_bytes("runs/r/summary.json.lock",
                        json.dumps({"holder": "dead", "expires": time.time() - 1}).encode())
    with storage.lock("runs/r/summary.json", wait_s=5):
        pass
    storage.write_bytes("runs/r/summary.json.lock",
                        json.dumps({"holder": "alive", "expires": time.time() + 60}).encode())
    with pytest.raises(TimeoutError, match="stayed locked"):
        with storage.lock("runs/r/summary.json", wait_s=0.5):
            pass


def test_run_summaries_and_llm_answers_live_in_the_bucket(s3, bucket, tmp_path):
    storage = _storage(s3, bucket)
    settings = PipelineSettings(data_dir=tmp_path / "work", data_url=storage.url)
    threads = [threading.Thread(target=lambda i=i: _summarize(settings, i)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    summary = read_run_summary(settings, "manual__1")
    assert sorted(summary.warnings) == [f"w{i}" for i in range(6)]  # no update was lost
    assert list((tmp_path / "work").iterdir()) == []
    cache = LLMCache(tmp_path / "unused", shared=storage)
    key = LLMCache.key("polish", "1", "m", "text")
    assert cache.get(key) is None
    cache.put(key, "Polished.", "m")
    assert LLMCache(tmp_path / "other", shared=storage).get(key)["text"] == "Polished."
    cache.learn_endpoint("http://llm", json_schema=False)
    assert LLMCache(tmp_path / "x", shared=storage).endpoint_facts() == {
        "http://llm": {"json_schema": False}}
    assert not (tmp_path / "unused").exists()


def _summarize(settings: PipelineSettings, i: int) -> None:
    with working_copy(settings) as data:  # as a task on its own host does
        update_run_summary(data, "manual__1", warnings=[f"w{i}"])


_UPLOAD = """
import sys
from pathlib import Path
from scribeflow.core.objects import open_storage
storage = open_storage(sys.argv[1], {"key": sys.argv[2], "secret": sys.argv[3],
                       "client_kwargs": {"endpoint_url": sys.argv[4]}})
storage.fs.max_concurrency = 1  # parts one after another, so the kill lands between them
storage.upload(Path(sys.argv[5]), "videos/v/audio.wav")
"""


def test_a_worker_killed_during_an_upload_leaves_no_visible_partial_object(s3, bucket, tmp_path):
    storage = _storage(s3, bucket)
    old = tmp_path / "old.wav"
    old.write_bytes(b"the complete old audio")
    storage.upload(old, "videos/v/audio.wav")
    new = tmp_path / "new.wav"
    new.write_bytes(os.urandom(PART_BYTES * 8))
    child = subprocess.Popen([sys.executable, "-c", _UPLOAD, storage.url, s3.key, s3.secret,
                              s3.endpoint, str(new)])
    client = s3.client()
    deadline = time.monotonic() + 60
    while True:  # kill -9 once the server holds a part of the new upload
        uploads = client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
        if uploads and client.list_parts(Bucket=bucket, Key=uploads[0]["Key"],
                                         UploadId=uploads[0]["UploadId"]).get("Parts"):
            break
        assert child.poll() is None, "the upload ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert s3.keys(bucket) == ["data/videos/v/audio.wav"]
    assert storage.read_bytes("videos/v/audio.wav") == b"the complete old audio"


def test_a_missing_bucket_is_one_line(s3):
    with pytest.raises(ConfigError) as caught:
        _storage(s3, "no-such-bucket").check()
    assert "bucket 'no-such-bucket' does not exist" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_wrong_credentials_are_one_line_and_never_print_the_secret(s3, bucket):
    secret = "WrongSecretValue123"
    with pytest.raises(ConfigError) as caught:
        _storage(s3, bucket, secret=secret).check()
    cause = str(caught.value)
    assert "refused the credentials" in cause and s3.key in cause
    assert secret not in cause and s3.secret not in cause and "\n" not in cause


def test_an_unreachable_endpoint_is_one_line(s3):
    from support.http import free_port

    endpoint = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    with pytest.raises(ConfigError) as caught:
        open_storage("s3://b/data", {"key": s3.key, "secret": s3.secret,
                                     "client_kwargs": {"endpoint_url": endpoint}}).check()
    assert str(caught.value).startswith(f"cannot reach object storage at {endpoint}")
    assert "\n" not in str(caught.value) and time.monotonic() - started < 60


def test_an_unknown_scheme_names_what_is_missing():
    with pytest.raises(ConfigError, match="no filesystem for nosuch://"):
        open_storage("nosuch://bucket/data")


def test_locked_updates_from_two_hosts_working_copies_lose_nothing(s3, bucket, tmp_path):
    """Two hosts, each with a working copy of its own, update one file of the bucket."""
    from scribeflow.core.files import locked, read_json, write_json_atomic

    storage = _storage(s3, bucket)
    hosts = [PipelineSettings(data_dir=tmp_path / name, data_url=storage.url)
             for name in ("gpu-host", "cpu-host")]

    def add(settings: PipelineSettings) -> None:
        for _ in range(5):
            with working_copy(settings) as data:
                path = data.root / "sources" / "science" / "state.json"
                with locked(path):
                    count = read_json(path)["n"] if path.exists() else 0
                    write_json_atomic(path, {"n": count + 1})

    threads = [threading.Thread(target=add, args=(h,)) for h in hosts for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert json.loads(storage.read_bytes("sources/science/state.json")) == {"n": 20}
    assert [p for h in hosts for p in h.data_dir.rglob("*") if p.is_file()] == []


def test_a_block_recorded_on_one_host_backs_off_the_source_on_another(s3, bucket, tmp_path):
    import datetime as dt

    from scribeflow.core.errors import BlockedError
    from scribeflow.pipeline.ingest_records import (
        SourceState,
        active_backoff,
        past_run_from_summary,
        record_block,
        state_path,
    )

    storage = _storage(s3, bucket)
    now = dt.datetime(2026, 11, 22, 12, tzinfo=dt.UTC)
    worker = PipelineSettings(data_dir=tmp_path / "worker-host", data_url=storage.url)
    with working_copy(worker) as data:  # a video run's download was refused
        record_block(data, BlockedError("youtube.com: sign in to confirm", "youtube.com"),
                     url="https://youtube.com/watch?v=x", run_id="ingest__youtube-x",
                     source="science", now=now)
    with working_copy(worker) as data:
        update_run_summary(data, "ingest__youtube-x", status="failed",
                           error={"kind": "blocked", "cause": "sign in"})
    channel = PipelineSettings(data_dir=tmp_path / "channel-host", data_url=storage.url)
    with working_copy(channel, ["sources/science", "blocks"]) as data:  # the next listing
        backoff = active_backoff(data, ["youtube.com"], 3600, now + dt.timedelta(minutes=5))
        assert backoff is not None and backoff.site == "youtube.com"
        assert list(SourceState.load(state_path(data, "science")).pending) == ["ingest__youtube-x"]
        past = past_run_from_summary(data, "ingest__youtube-x")
        assert (past.state, past.kind) == ("failed", "blocked")
        assert past_run_from_summary(data, "ingest__never-ran") is None
    assert not any((tmp_path / "channel-host").rglob("*.json"))
