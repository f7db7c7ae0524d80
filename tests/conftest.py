"""Shared fixtures: test media served over HTTP, the real embedding model, the scripted LLM."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from support.media import FileServer, silent_video, speech_video, video_without_audio
from support.openai_server import EditorScript, ScriptedOpenAI

os.environ.setdefault("HF_HUB_OFFLINE", "1")
#: The suite runs several pytest-xdist workers on a machine of a few cores, each starting
#: pipelines whose whisper (CTranslate2) and torch would each use every core. Oversubscribed,
#: their threads wait on each other: a German clip through tiny.en took 10 s alone and 2 min
#: in the suite, the model host's batched decode 44 s for 8.6 s of audio. So every process of
#: the suite computes on one thread (``clean_env`` passes both on to the runs it starts).
SUITE_THREADS = {"SCRIBEFLOW_WHISPER_THREADS": "1", "OMP_NUM_THREADS": "1"}
for _name, _value in SUITE_THREADS.items():
    os.environ.setdefault(_name, _value)

#: Where the time goes, longest first (seconds of one test, or one module's tests together,
#: on this 2-core machine). ``make test`` runs the suite on several pytest-xdist workers; these
#: start first, so no long one starts last and runs alone while the other workers idle.
LONGEST_FIRST = (
    "tests/bench/test_bench_smoke.py::test_benchmark_quick_run_reports[per_video_overhead:sch",
    "tests/bench/test_bench_smoke.py::test_benchmark_quick_run_reports[per_video_overhead:in_",
    "tests/topology/test_celery_topology.py",  # 300
    "tests/e2e/test_bad_input.py",  # 300
    "tests/e2e/test_video_pipeline.py",  # 250
    "tests/deploy/test_requirements_alone.py",  # 200 building its venv, 20 once it is cached
    "tests/e2e/test_channels.py",  # 190
    "tests/unit/cli/test_doctor.py",  # 150
    "tests/e2e/test_speech_endpoint.py",  # 130
    "tests/unit/speech/test_whisper.py",  # 130
    "tests/bench/test_bench_smoke.py::test_benchmark_quick_run_reports[object_storage]",
    "tests/bench/test_bench_smoke.py::test_benchmark_quick_run_reports[split_transcription]",
    "tests/e2e/test_stores.py",  # 110
    "tests/bench/test_bench_smoke.py::test_benchmark_quick_run_reports[pipeline_overhead]",
    "tests/e2e/test_ingest_cli.py",  # 100
    "tests/e2e/test_search_page.py",  # 95
    "tests/bench/",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The longest tests start first (:data:`LONGEST_FIRST`); the rest keep their order."""
    def rank(item: pytest.Item) -> int:
        return next((i for i, prefix in enumerate(LONGEST_FIRST)
                     if item.nodeid.startswith(prefix)), len(LONGEST_FIRST))

    items.sort(key=rank)  # stable: a module's tests keep their order


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """With ``--dist loadscope``, each module's tests run together on one worker, so a
    module's expensive fixtures (a processed video, a deployment) are made once, not once per
    worker; the benchmark smoke tests share none, and each goes where there is room. (The
    ``xdist_group`` marks of ``--dist loadgroup`` are lost under pytest 9, whose node ids
    pytest-xdist 3.8 can no longer rename.)"""
    if config.getvalue("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class ModulesAndBenchmarks(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return nodeid if nodeid.startswith("tests/bench/") else nodeid.split("::", 1)[0]

    return ModulesAndBenchmarks(config, log)


@dataclass(frozen=True)
class Media:
    root: Path
    server: FileServer

    def url(self, name: str) -> str:
        return self.server.url(name)


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Media]:
    """talk.mp4 (the known script), silent.mp4, noaudio.mp4, notes.txt, page.html over HTTP."""
    root = tmp_path_factory.mktemp("media")
    speech_video(root / "talk.mp4")
    silent_video(root / "silent.mp4")
    video_without_audio(root / "noaudio.mp4")
    (root / "notes.txt").write_text("These are notes, not a video.\n" * 20)
    (root / "page.html").write_text("<html><body><p>No video on this page.</p></body></html>")
    with FileServer(root) as server:
        yield Media(root=root, server=server)


@pytest.fixture(scope="session")
def embedder():
    from scribeflow.index.embedding import load_embedder

    return load_embedder("auto", device="cpu")


@pytest.fixture(scope="session")
def s3(tmp_path_factory: pytest.TempPathFactory):
    """A real S3-compatible server (moto) on 127.0.0.1 that checks credentials."""
    from support.s3 import start_s3

    server = start_s3(tmp_path_factory.mktemp("s3") / "moto.log")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory):
    """A real PostgreSQL 16 with pgvector 0.6.2 (the pgserver wheel), on a Unix socket."""
    import logging

    import pgserver

    # pgserver logs from an atexit hook, after pytest has closed the streams it captured
    logging.getLogger("pgserver").propagate = False
    server = pgserver.get_server(tmp_path_factory.mktemp("pgdata"), cleanup_mode="stop")
    yield server
    server.cleanup()


@pytest.fixture
def pgvector_dsn(pg_server, request) -> str:
    """A fresh, empty database on the session's server, as a DSN."""
    import re
    import uuid

    name = "t_" + re.sub(r"\W", "_", request.node.name.lower())[:40] + "_" + uuid.uuid4().hex[:6]
    pg_server.psql(f"CREATE DATABASE {name};")
    return pg_server.get_uri(name)


@pytest.fixture(params=["parquet", "pgvector"])
def store_settings(request, tmp_path, monkeypatch):
    """Settings of a fresh data folder, once with each store (pgvector: a fresh database)."""
    from scribeflow.core.config import PipelineSettings

    if request.param == "pgvector":
        monkeypatch.setenv("SCRIBEFLOW_PGVECTOR_DSN", request.getfixturevalue("pgvector_dsn"))
    return PipelineSettings.from_env({"data_dir": tmp_path / "data", "store": request.param})


@pytest.fixture
def editor_llm() -> Iterator[tuple[ScriptedOpenAI, EditorScript]]:
    script = EditorScript()
    with ScriptedOpenAI(script) as server:
        yield server, script

