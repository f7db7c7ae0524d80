"""Reuse of work across runs and submissions, keyed by what the work depends on.

- An LLM answer is keyed by the prompt's name and version, the model and the rendered
  prompt (which holds the input text): the same chunk through the same prompt and model is
  never asked twice, whoever submits the video.
- A transcript is keyed by the audio's hash, the model and the transcription settings.

Entries are small JSON files written atomically under ``<data>/cache/``; with the data
folder on object storage they are objects under the same URL, so every worker on every host
reuses them.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scribeflow.core.config import PipelineSettings
from scribeflow.core.files import (
    DataPaths,
    locked,
    read_json,
    write_json_atomic,
)

if TYPE_CHECKING:
    from scribeflow.core.objects import ObjectStorage

#: Where the LLM cache lives under the data folder (local or object storage).
LLM_CACHE = "cache/llm"


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

    def __init__(self, root: Path, shared: ObjectStorage | None = None):
        """Entries under the local folder ``root``, or under ``cache/llm/`` of ``shared``
        (the data folder on object storage) when there is one."""
        self.root = Path(root)
        self.shared = shared
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(prompt_name: str, prompt_version: str, model: str, rendered: str) -> str:
        return digest(prompt_name, prompt_version, model, rendered)

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def _rel(self, key: str) -> str:
        return f"{LLM_CACHE}/{key[:2]}/{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        if self.shared is not None:
            data = self.shared.read_bytes(self._rel(key))
            entry = json.loads(data) if data is not None else None
        else:
            path = self._path(key)
            entry = read_json(path) if path.exists() else None
        if entry is None:
            self.misses += 1
        else:
            self.hits += 1
        return entry

    def put(self, key: str, text: str, model: str, **extra: Any) -> None:
        entry = {"text": text, "model": model, **extra}
        if self.shared is not None:
            self.shared.write_bytes(self._rel(key), json.dumps(entry, ensure_ascii=False).encode())
        else:
            write_json_atomic(self._path(key), entry)

    @property
    def _endpoints(self) -> Path:
        return self.root / "endpoints.json"

    def endpoint_facts(self) -> dict[str, dict[str, Any]]:
        """What was learned about each endpoint (``{"json_schema": False}``: it rejects
        JSON Schemas for answers), so other tasks need not learn it again."""
        try:
            if self.shared is not None:
                data = self.shared.read_bytes(f"{LLM_CACHE}/endpoints.json")
                return json.loads(data) if data else {}
            return read_json(self._endpoints)
        except (OSError, ValueError):
            return {}

    def learn_endpoint(self, endpoint: str, **facts: Any) -> None:
        if self.shared is not None:
            with self.shared.lock(f"{LLM_CACHE}/endpoints.json"):
                known = self.endpoint_facts()
                known[endpoint] = known.get(endpoint, {}) | facts
                self.shared.write_bytes(f"{LLM_CACHE}/endpoints.json", json.dumps(known).encode())
            return
        with locked(self._endpoints):
            known = self.endpoint_facts()
            known[endpoint] = known.get(endpoint, {}) | facts
            write_json_atomic(self._endpoints, known)


def llm_cache(settings: PipelineSettings) -> Any:
    """The LLM cache of the data folder, local or on object storage."""
    from scribeflow.core.cache import LLMCache

    shared = None
    if settings.data_url:
        from scribeflow.core.objects import open_storage

        shared = open_storage(settings.data_url)
    return LLMCache(DataPaths(settings.data_dir).llm_cache, shared=shared)


