"""Fetch a video's best audio with yt-dlp (as a library) or from a local file.

Returns a :class:`VideoSource` and leaves ``audio.wav`` (16 kHz mono) and ``metadata.json``
in the video's folder. Every way the input can be wrong raises :class:`BadInputError` with
a one-line cause; nothing is written to the video folder until the audio is decoded.
"""

from __future__ import annotations

import hashlib
import logging
import os
import random
import re
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

from scribeflow.core.errors import BadInputError, ScribeflowError, no_space, one_line, storage_full
from scribeflow.core.files import DataPaths, VideoPaths, read_json, safe_name, write_json_atomic
from scribeflow.core.timings import phase
from scribeflow.sources import media
from scribeflow.sources.sites import blocked

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


@dataclass(frozen=True)
class DownloadOptions:
    """How to fetch from video sites: a cookies file (a temporary copy of a secret, never
    logged) and a ``[min, max]`` range of seconds to sleep, drawn uniformly, before each
    download."""

    cookiefile: Path | None = None
    sleep: tuple[float, float] = (0.0, 0.0)
    #: Longer inputs are refused (seconds), before downloading when the site says how long.
    max_duration: float | None = None
    #: The id its listing gave the video (a feed entry's, keyed on its feed and guid); None:
    #: the extractor's (``<extractor>-<id>``).
    video_id: str | None = None


def download_audio(url: str, data: DataPaths,
                   options: DownloadOptions | None = None) -> VideoSource:
    """Download (or read) ``url``, decode it to PCM and write the video's metadata.

    Raises :class:`BlockedError` when the site refuses to serve us for now (bot check, 429)."""
    url = (url or "").strip()
    if not url:
        raise BadInputError("no URL or file given")
    local = local_path(url)
    if local is not None:
        return _write_metadata(data, _from_local_file(
            local, url, data, (options or DownloadOptions()).max_duration))
    if not re.match(r"^[a-z][a-z0-9+.-]*://", url, re.IGNORECASE):
        raise BadInputError(f"not a URL or an existing file: {url!r}")
    options = options or DownloadOptions()
    if options.video_id is not None and (not options.video_id
                                         or safe_name(options.video_id) != options.video_id):
        raise BadInputError(f"video_id {options.video_id!r} is not a file-name-safe id: use "
                            "letters, digits, '.', '-' and '_'")
    return _write_metadata(data, _from_ytdlp(url, data, options))


def _write_metadata(data: DataPaths, source: VideoSource) -> VideoSource:
    """``metadata.json``: written here only, once the audio is in place."""
    write_json_atomic(data.video(source.video_id).metadata, source.to_dict())
    return source


def local_path(url: str) -> Path | None:
    """The local file ``url`` names (a path or ``file://``), None for a URL; a missing file
    or a folder is :class:`BadInputError`."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        path = Path(unquote(parsed.path))
        if path.is_dir():
            raise BadInputError(f"not a file: {path} is a folder; give one media file")
        if not path.is_file():
            raise BadInputError(f"file not found: {path}")
        return path
    if "://" not in url:
        path = Path(url).expanduser()
        if path.is_file():
            return path
        if path.is_dir():
            raise BadInputError(f"not a file: {path} is a folder; give one media file")
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


def _from_local_file(path: Path, url: str, data: DataPaths,
                     max_duration: float | None = None) -> VideoSource:
    path = path.resolve()
    video_id = file_video_id(path)
    video = data.video(video_id)
    decoded = _decoded_before(video)
    if decoded is not None:  # the id is the file's content hash: its audio is this audio
        media.check_duration(decoded, str(path), max_duration)
        source = VideoSource(video_id=video_id, title=path.stem, channel=None, upload_date=None,
                             duration=decoded, webpage_url=path.as_uri(), source_url=url,
                             extractor="file")
        log.info("reused the decoded audio of %s", video_id)
        return source
    with tempfile.TemporaryDirectory(dir=_tmp_root(data)) as tmp:
        probe = media.to_pcm16k(path, Path(tmp) / "audio.wav", label=str(path),
                                max_duration=max_duration)
        source = VideoSource(
            video_id=video_id, title=path.stem, channel=None, upload_date=None,
            duration=round(probe.duration, 3), webpage_url=path.as_uri(), source_url=url,
            extractor="file",
        )
        _commit(Path(tmp) / "audio.wav", video.audio)
    return source


def _decoded_before(video: VideoPaths) -> float | None:
    """The duration of the audio an earlier run decoded into ``video``'s folder, if any."""
    if not (video.audio.exists() and video.metadata.exists()):
        return None
    try:
        duration = read_json(video.metadata).get("duration")
    except (OSError, ValueError):
        return None
    return float(duration) if isinstance(duration, int | float) and duration > 0 else None


def _from_ytdlp(url: str, data: DataPaths, download: DownloadOptions) -> VideoSource:
    with phase("imports"):
        import yt_dlp  # heavy: imported where used

    options: dict = {
        "format": "bestaudio/best",
        "noplaylist": True,
        "quiet": True,
        "no_warnings": True,
        "noprogress": True,
        "socket_timeout": 30,
        "retries": 3,
        "logger": _YtdlpLog(),
    }
    if download.cookiefile is not None:
        options["cookiefile"] = str(download.cookiefile)
    if download.sleep[1] > 0:
        # yt-dlp's own sleep_interval never sleeps when its minimum is 0: draw it here.
        seconds = random.uniform(*download.sleep)
        log.info("sleeping %.1f s before downloading (range %g-%g s)", seconds, *download.sleep)
        time.sleep(seconds)
    with tempfile.TemporaryDirectory(dir=_tmp_root(data)) as tmp:
        options["outtmpl"] = str(Path(tmp) / "source.%(ext)s")
        try:
            with yt_dlp.YoutubeDL(options) as ydl:
                # Look before downloading: a channel or playlist is refused before any of its
                # entries is fetched (extract_info(download=True) would fetch them all first).
                info = ydl.extract_info(url, download=False, process=False)
                if info is not None and info.get("_type") in ("playlist", "multi_video"):
                    raise BadInputError(f"{url} is a playlist; give one video URL per run (to "
                                        f"process its videos: scribeflow ingest {url})")
                if info is not None:
                    media.check_duration(info.get("duration"), url, download.max_duration)
                    info = ydl.process_ie_result(info, download=True)
        except yt_dlp.utils.DownloadError as exc:
            cause = ytdlp_cause(exc)
            if no_space(cause) or no_space(exc):
                raise storage_full(tmp, f"downloading {url}") from None
            if (error := blocked(cause, url)) is not None:
                raise error from None
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
        video_id = (download.video_id
                    or f"{safe_name(extractor)}-{safe_name(str(info.get('id') or 'video'))}")
        probe = media.to_pcm16k(files[0], Path(tmp) / "audio.wav", label=url,
                                max_duration=download.max_duration)
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
    return source


def _tmp_root(data: DataPaths) -> Path:
    data.downloads.mkdir(parents=True, exist_ok=True)
    return data.downloads


def _commit(tmp_audio: Path, target: Path) -> None:
    """Move the decoded audio into place atomically. Two runs of one video may commit at
    once: each moves through a part file of its own, and the last replace wins."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, part = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    os.close(fd)
    try:
        shutil.move(str(tmp_audio), part)
        os.replace(part, target)
    except BaseException:
        Path(part).unlink(missing_ok=True)
        raise


def _iso_date(value: str | None) -> str | None:
    if value and re.fullmatch(r"\d{8}", value):
        return f"{value[:4]}-{value[4:6]}-{value[6:]}"
    return value or None


_TRANSIENT = re.compile(
    r"timed out|temporarily|connection (refused|reset|aborted)|HTTP Error 5\d\d",
    re.IGNORECASE,
)


def ytdlp_cause(exc: Exception) -> str:
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
