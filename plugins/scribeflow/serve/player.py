"""What a search hit on a local file opens: the video's media over HTTP and a player page
that starts at the hit's second.

A browser refuses ``file://`` links from a web page, so hits on local files link to the
player instead (web videos keep their own ``t=`` links). The media is the original file
while it is still where it was processed and still the same file (its content hash is the
video id); otherwise the decoded audio that the pipeline keeps with the video's artifacts,
read in ranges from the bucket when the data folder is on object storage.
"""

from __future__ import annotations

import functools
import json
import mimetypes
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlparse

from scribeflow.core.errors import ScribeflowError
from scribeflow.core.files import DataPaths, read_json


class NotFoundError(ScribeflowError):
    """Nothing stored under that video id."""


@dataclass(frozen=True)
class Playable:
    video_id: str
    #: A local file, or a key of ``storage`` (the data folder on object storage).
    path: Path | str
    media_type: str
    title: str
    channel: str | None
    upload_date: str | None
    storage: Any = None
    size: int = 0


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The first and last byte an HTTP ``Range: bytes=…`` header asks for (None: the whole
    file); raises :class:`ValueError` when it cannot be satisfied."""
    if not header:
        return None
    unit, _, spec = header.partition("=")
    first, _, last = spec.split(",")[0].strip().partition("-")
    if unit.strip() != "bytes" or not (first or last):
        raise ValueError(header)
    if not first:  # the last N bytes
        start, end = max(0, size - int(last)), size - 1
    else:
        start, end = int(first), min(int(last), size - 1) if last else size - 1
    if start >= size or start > end:
        raise ValueError(header)
    return start, end


def read_ranges(item: Playable, start: int, end: int, block: int = 1 << 20) -> Iterator[bytes]:
    """Bytes ``start``..``end`` of a media object, streamed in ranged reads of ``block``."""
    with item.storage.fs.open(item.storage.key(str(item.path)), "rb", block_size=block) as handle:
        handle.seek(start)
        remaining = end - start + 1
        while remaining > 0:
            chunk = handle.read(min(block, remaining))
            if not chunk:
                return
            remaining -= len(chunk)
            yield chunk


def playable(data: DataPaths, video_id: str, storage: Any = None) -> Playable:
    """The file to play for ``video_id`` (from the bucket of ``storage`` when the data
    folder is on object storage); raises :class:`NotFoundError` when there is none."""
    video = data.video(video_id)
    rel = video.root.relative_to(data.root).as_posix()
    try:
        if storage is not None:
            raw = storage.read_bytes(f"{rel}/metadata.json")
            meta = json.loads(raw) if raw is not None else {}
        else:
            meta = read_json(video.metadata)
    except (OSError, ValueError):
        raise NotFoundError(f"no video {video_id!r} is stored") from None
    if meta.get("video_id") != video_id:
        raise NotFoundError(f"no video {video_id!r} is stored")
    fields = {"video_id": video_id, "title": meta.get("title") or video_id,
              "channel": meta.get("channel"), "upload_date": meta.get("upload_date")}
    path = video.audio
    if meta.get("extractor") == "file":
        original = Path(unquote(urlparse(meta.get("webpage_url", "")).path))
        if _same_file(original, video_id):
            path = original
    if storage is not None and path == video.audio:
        key = f"{rel}/{video.audio.name}"
        try:
            size = int(storage.fs.info(storage.key(key))["size"])
        except FileNotFoundError:
            raise NotFoundError(f"video {video_id!r} has no media left to play") from None
        return Playable(path=key, media_type=_media_type(video.audio), storage=storage,
                        size=size, **fields)
    if not path.is_file():
        raise NotFoundError(f"video {video_id!r} has no media left to play")
    return Playable(path=path, media_type=_media_type(path), size=path.stat().st_size, **fields)


def _media_type(path: Path) -> str:
    return mimetypes.guess_type(path.name)[0] or "application/octet-stream"


def _same_file(path: Path, video_id: str) -> bool:
    try:
        stat = path.stat()
    except OSError:
        return False
    return path.is_file() and _content_id(str(path), stat.st_size, stat.st_mtime_ns) == video_id


@functools.lru_cache(maxsize=256)
def _content_id(path: str, size: int, mtime_ns: int) -> str:
    """The file's video id, hashed once per version of the file (size and mtime)."""
    from scribeflow.sources.download import file_video_id

    return file_video_id(Path(path))


def player_page(item: Playable, start: float) -> str:
    from scribeflow.writing.render import template

    return template("player.html.j2").render(item=item, start=max(0, int(start)),
                                             media=f"../media/{quote(item.video_id, safe='')}")


def to_watch_links(hits: list[dict[str, Any]], root: str) -> list[dict[str, Any]]:
    """Hits on local files link to the player under ``root`` (the app's mount path)."""
    from scribeflow.core.links import moment_link

    return [hit | {"url": moment_link(hit["url"], hit["video_id"], hit["start"], root + "/")}
            if hit["url"].startswith("file:") else hit for hit in hits]
