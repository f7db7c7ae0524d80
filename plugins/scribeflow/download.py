"""Fetch a video's best audio with yt-dlp (as a library) or from a local file.

Returns a :class:`VideoSource` and leaves ``audio.wav`` (16 kHz mono) and ``metadata.json``
in the video's folder. Every way the input can be wrong raises :class:`BadInputError` with
a one-line cause; nothing is written to the video folder until the audio is decoded.
"""

from __future__ import annotations

import hashlib
import logging
import re
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

from scribeflow import media
from scribeflow.errors import BadInputError, ScribeflowError, one_line
from scribeflow.files import DataPaths, safe_name, write_json_atomic

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VideoSource:
    video_id: str
    title: str
    channel: str | None
    upload_date: str | None
    duration: float
    webpage_url: str
    source_url: str
    extractor: str

    def to_dict(self) -> dict:
        return asdict(self)


def download_audio(url: str, data: DataPaths) -> VideoSource:
    """Download (or read) ``url``, decode it to PCM and write the video's metadata."""
    url = (url or "").strip()
    if not url:
        raise BadInputError("no URL or file given")
    local = _local_path(url)
    if local is not None:
        return _from_local_file(local, url, data)
    if not re.match(r"^[a-z][a-z0-9+.-]*://", url, re.IGNORECASE):
        raise BadInputError(f"not a URL or an existing file: {url!r}")
    return _from_ytdlp(url, data)


def _local_path(url: str) -> Path | None:
    parsed = urlparse(url)
    if parsed.scheme == "file":
        path = Path(unquote(parsed.path))
        if not path.is_file():
            raise BadInputError(f"file not found: {path}")
        return path
    if "://" not in url:
        path = Path(url).expanduser()
        if path.is_file():
            return path
        if path.exists():
            raise BadInputError(f"not a file: {path}")
        if url.startswith(("/", "./", "../", "~")) or path.suffix:
            raise BadInputError(f"file not found: {path}")
    return None


def file_video_id(path: Path) -> str:
    """A content hash, so the same file gives the same id wherever it lies."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return f"file-{digest.hexdigest()[:16]}"


def _from_local_file(path: Path, url: str, data: DataPaths) -> VideoSource:
    path = path.resolve()
    video_id = file_video_id(path)
    video = data.video(video_id)
    with tempfile.TemporaryDirectory(dir=_tmp_root(data)) as tmp:
        probe = media.to_pcm16k(path, Path(tmp) / "audio.wav", label=str(path))
        source = VideoSource(
            video_id=video_id, title=path.stem, channel=None, upload_date=None,
            duration=round(probe.duration, 3), webpage_url=path.as_uri(), source_url=url,
            extractor="file",
        )
        _commit(Path(tmp) / "audio.wav", video.audio)
    write_json_atomic(video.metadata, source.to_dict())
    return source


def _from_ytdlp(url: str, data: DataPaths) -> VideoSource:
    import yt_dlp  # heavy: imported where used

    options = {
        "format": "bestaudio/best",
        "noplaylist": True,
        "quiet": True,
        "no_warnings": True,
        "noprogress": True,
        "socket_timeout": 30,
        "retries": 3,
        "logger": _YtdlpLog(),
    }
    with tempfile.TemporaryDirectory(dir=_tmp_root(data)) as tmp:
        options["outtmpl"] = str(Path(tmp) / "source.%(ext)s")
        try:
            with yt_dlp.YoutubeDL(options) as ydl:
                info = ydl.extract_info(url, download=True)
        except yt_dlp.utils.DownloadError as exc:
            cause = _ytdlp_cause(exc)
            if _TRANSIENT.search(cause):
                raise ScribeflowError(f"download failed for {url}: {cause}") from None
            raise BadInputError(f"download failed for {url}: {cause}") from None
        if info is None:
            raise BadInputError(f"download failed for {url}: yt-dlp returned nothing")
        if info.get("_type") == "playlist":
            raise BadInputError(f"{url} is a playlist; give one video URL per run")
        files = [p for p in Path(tmp).iterdir() if p.name.startswith("source.")]
        if not files:
            raise BadInputError(f"download failed for {url}: no file was written")
        extractor = (info.get("extractor_key") or info.get("extractor") or "web").lower()
        video_id = f"{safe_name(extractor)}-{safe_name(str(info.get('id') or 'video'))}"
        probe = media.to_pcm16k(files[0], Path(tmp) / "audio.wav", label=url)
        source = VideoSource(
            video_id=video_id,
            title=str(info.get("title") or info.get("id") or video_id),
            channel=info.get("channel") or info.get("uploader"),
            upload_date=_iso_date(info.get("upload_date")),
            duration=round(probe.duration, 3),
            webpage_url=str(info.get("webpage_url") or url),
            source_url=url,
            extractor=extractor,
        )
        _commit(Path(tmp) / "audio.wav", data.video(video_id).audio)
    write_json_atomic(data.video(video_id).metadata, source.to_dict())
    return source


def _tmp_root(data: DataPaths) -> Path:
    data.downloads.mkdir(parents=True, exist_ok=True)
    return data.downloads


def _commit(tmp_audio: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(tmp_audio), str(target.with_name(".audio.wav.part")))
    target.with_name(".audio.wav.part").replace(target)


def _iso_date(value: str | None) -> str | None:
    if value and re.fullmatch(r"\d{8}", value):
        return f"{value[:4]}-{value[4:6]}-{value[6:]}"
    return value or None


_TRANSIENT = re.compile(
    r"timed out|temporarily|connection (refused|reset|aborted)|HTTP Error 5\d\d|HTTP Error 429",
    re.IGNORECASE,
)


def _ytdlp_cause(exc: Exception) -> str:
    """yt-dlp's message without its ``ERROR: [extractor] id:`` prefix and ``(caused by …)`` tail."""
    text = one_line(str(exc).split(" (caused by ")[0], limit=1000)
    text = re.sub(r"^ERROR:\s*", "", text)
    text = re.sub(r"^\[[^\]]+\]\s*[^:\s]+:\s*", "", text)
    return one_line(text, limit=200)


class _YtdlpLog:
    """Route yt-dlp's messages to logging instead of stdout."""

    def debug(self, msg: str) -> None:
        if not msg.startswith("[debug] "):
            log.debug(msg)

    def info(self, msg: str) -> None:
        log.debug(msg)

    def warning(self, msg: str) -> None:
        log.warning(msg)

    def error(self, msg: str) -> None:
        log.debug(msg)
