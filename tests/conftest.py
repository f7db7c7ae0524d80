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
    from scribeflow.embedding import load_embedder

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


@pytest.fixture
def editor_llm() -> Iterator[tuple[ScriptedOpenAI, EditorScript]]:
    script = EditorScript()
    with ScriptedOpenAI(script) as server:
        yield server, script
