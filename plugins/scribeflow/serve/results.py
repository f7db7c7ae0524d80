"""One video's results page (``/scribeflow/videos/<video_id>``): what a run made, where a
user can read, download and play it, behind the same login as the search page.

The artifacts are read where they are stored: the local data folder, or the bucket when
``SCRIBEFLOW_DATA`` is on object storage. Only the files listed in :data:`ARTIFACTS` are
served, by name.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from scribeflow.core.files import DataPaths
from scribeflow.serve.player import NotFoundError

#: The files a user gets from the page: name → (label, media type), in the page's order.
ARTIFACTS: dict[str, tuple[str, str]] = {
    "document.html": ("Document (web page)", "text/html; charset=utf-8"),
    "document.pdf": ("Document (PDF)", "application/pdf"),
    "document.md": ("Document (Markdown)", "text/markdown; charset=utf-8"),
    "quiz.html": ("Quiz (interactive)", "text/html; charset=utf-8"),
    "quiz.pdf": ("Quiz (PDF)", "application/pdf"),
    "quiz_answer_key.md": ("Quiz answer key (Markdown)", "text/markdown; charset=utf-8"),
    "transcript.srt": ("Subtitles (SRT)", "application/x-subrip; charset=utf-8"),
    "transcript.vtt": ("Subtitles (WebVTT)", "text/vtt; charset=utf-8"),
    "transcript.txt": ("Transcript (text)", "text/plain; charset=utf-8"),
    "chapters.txt": ("Chapters (text)", "text/plain; charset=utf-8"),
}
#: A translation's files (``translate_to``): the same kinds, named by their language.
TRANSLATED: dict[str, tuple[str, str]] = {
    "document.{}.html": ("Document in {} (web page)", "text/html; charset=utf-8"),
    "document.{}.md": ("Document in {} (Markdown)", "text/markdown; charset=utf-8"),
    "transcript.{}.srt": ("Subtitles in {} (SRT)", "application/x-subrip; charset=utf-8"),
    "transcript.{}.vtt": ("Subtitles in {} (WebVTT)", "text/vtt; charset=utf-8"),
}


def artifact_kind(name: str) -> tuple[str, str] | None:
    """A results file's label and media type, or None for a name that is not one."""
    from scribeflow.core.languages import LANGUAGES, language_name

    if name in ARTIFACTS:
        return ARTIFACTS[name]
    stem, _, rest = name.partition(".")
    code, _, suffix = rest.partition(".")
    kind = TRANSLATED.get(f"{stem}.{{}}.{suffix}")
    if kind is None or code not in LANGUAGES:
        return None
    return kind[0].format(language_name(code)), kind[1]


@dataclass(frozen=True)
class VideoFiles:
    """One stored video's files, local or in the bucket."""

    data: DataPaths
    video_id: str
    storage: Any = None  # scribeflow.core.objects.Storage when the data is on object storage

    @property
    def _rel(self) -> str:
        return self.data.video(self.video_id).root.relative_to(self.data.root).as_posix()

    def read(self, name: str) -> bytes | None:
        """The file's bytes, or None when the video has no such file."""
        if self.storage is not None:
            return self.storage.read_bytes(f"{self._rel}/{name}")
        path = self.data.video(self.video_id).root / name
        return path.read_bytes() if path.is_file() else None

    def names(self) -> set[str]:
        """The names of the video's files: one listing, not a read of each file."""
        if self.storage is not None:
            return {rel.removeprefix(f"{self._rel}/") for rel in self.storage.files(self._rel)}
        root = self.data.video(self.video_id).root
        return {p.name for p in root.iterdir() if p.is_file()} if root.is_dir() else set()

    def metadata(self) -> dict[str, Any]:
        """The video's metadata; :class:`NotFoundError` when no such video is stored."""
        raw = self.read("metadata.json") if "/" not in self.video_id else None
        try:
            meta = json.loads(raw) if raw is not None else {}
        except ValueError:
            meta = {}
        if meta.get("video_id") != self.video_id:
            raise NotFoundError(f"no video {self.video_id!r} is stored")
        return meta

    def artifact(self, name: str) -> tuple[bytes, str]:
        """An artifact's bytes and media type; :class:`NotFoundError` for any other name, or
        one this video does not have."""
        kind = artifact_kind(name)
        if kind is None:
            raise NotFoundError(f"{name!r} is not a file of a video's results")
        self.metadata()
        data = self.read(name)
        if data is None:
            raise NotFoundError(f"video {self.video_id!r} has no {name}")
        return data, kind[1]


def results_page(files: VideoFiles, run_id: str | None = None, playable: bool = False) -> str:
    """The page: title and source, the document inline, every file there is, the player,
    and the run that made it (when the link named it)."""
    from scribeflow.writing.render import template

    meta = files.metadata()
    source = meta.get("webpage_url") or ""
    stored = files.names()
    present = [(name, label) for name, (label, _) in ARTIFACTS.items() if name in stored]
    present += sorted((name, kind[0]) for name in stored if name not in ARTIFACTS
                      and (kind := artifact_kind(name)) is not None)
    quote_id = quote(files.video_id, safe="")
    return template("results.html.j2").render(
        meta=meta, source=source if source.startswith(("http://", "https://")) else None,
        video_id=files.video_id, files=present, quote_id=quote_id,
        run_id=run_id, run_link=(f"../../dags/video_pipeline/runs/{quote(run_id, safe='')}"
                                 if run_id else None),
        has_document="document.html" in dict(present), playable=playable)
