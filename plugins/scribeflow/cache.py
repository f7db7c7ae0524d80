"""Reuse of work across runs and submissions, keyed by what the work depends on.

- An LLM answer is keyed by the prompt's name and version, the model and the rendered
  prompt (which holds the input text): the same chunk through the same prompt and model is
  never asked twice, whoever submits the video.
- A transcript is keyed by the audio's hash, the model and the transcription settings.

Entries are small JSON files written atomically under ``<data>/cache/``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from scribeflow.files import locked, read_json, write_json_atomic


def digest(*parts: str) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode("utf-8"))
        h.update(b"\x1f")
    return h.hexdigest()


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class LLMCache:
    """Answers by ``(prompt name, prompt version, model, rendered prompt)``."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(prompt_name: str, prompt_version: str, model: str, rendered: str) -> str:
        return digest(prompt_name, prompt_version, model, rendered)

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        path = self._path(key)
        if path.exists():
            self.hits += 1
            return read_json(path)
        self.misses += 1
        return None

    def put(self, key: str, text: str, model: str, **extra: Any) -> None:
        write_json_atomic(self._path(key), {"text": text, "model": model, **extra})

    @property
    def _endpoints(self) -> Path:
        return self.root / "endpoints.json"

    def endpoint_facts(self) -> dict[str, dict[str, Any]]:
        """What was learned about each endpoint (``{"json_schema": False}``: it rejects
        JSON Schemas for answers), so other tasks need not learn it again."""
        try:
            return read_json(self._endpoints)
        except (OSError, ValueError):
            return {}

    def learn_endpoint(self, endpoint: str, **facts: Any) -> None:
        with locked(self._endpoints):
            known = self.endpoint_facts()
            known[endpoint] = known.get(endpoint, {}) | facts
            write_json_atomic(self._endpoints, known)
