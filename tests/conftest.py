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
    """talk.mp4 (the known script), silent.mp4, noaudio.mp4 and notes.txt over HTTP."""
    root = tmp_path_factory.mktemp("media")
    speech_video(root / "talk.mp4")
    silent_video(root / "silent.mp4")
    video_without_audio(root / "noaudio.mp4")
    (root / "notes.txt").write_text("These are notes, not a video.\n" * 20)
    with FileServer(root) as server:
        yield Media(root=root, server=server)


@pytest.fixture(scope="session")
def embedder():
    from scribeflow.embedding import load_embedder

    return load_embedder("auto", device="cpu")


@pytest.fixture
def editor_llm() -> Iterator[tuple[ScriptedOpenAI, EditorScript]]:
    script = EditorScript()
    with ScriptedOpenAI(script) as server:
        yield server, script
