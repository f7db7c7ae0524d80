"""ffprobe/ffmpeg helpers: probe streams, decode to 16 kHz mono PCM."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from scribeflow.core.errors import BadInputError, ConfigError, no_space, storage_full

SAMPLE_RATE = 16_000
#: Demuxers ffprobe uses for plain text, which it would otherwise report as a video stream.
_TEXT_FORMATS = {"tty", "ansi", "txt"}


#: Decoded audio shorter than this share of what the file declares is a damaged file.
MIN_DECODED_SHARE = 0.9


@dataclass(frozen=True)
class Probe:
    duration: float
    audio_streams: int
    video_streams: int
    #: What the first audio stream declares (its header), when it says.
    audio_duration: float | None = None


def _require(tool: str) -> str:
    path = shutil.which(tool)
    if not path:
        raise ConfigError(f"{tool} is not installed (Debian: apt-get install ffmpeg)")
    return path


def probe(path: Path, label: str | None = None) -> Probe:
    """Read stream counts and duration; a file ffprobe cannot read is a BadInputError."""
    label = label or str(path)
    proc = subprocess.run(
        [_require("ffprobe"), "-v", "error", "-show_entries",
         "stream=codec_type,duration:format=duration,format_name",
         "-of", "json", str(path)],
        capture_output=True, text=True, check=False,
    )
    if proc.returncode != 0:
        cause = _last_line(proc.stderr).replace(f"{path}: ", "") or "ffprobe failed"
        raise BadInputError(f"not a media file: {label} ({cause})")
    info = json.loads(proc.stdout or "{}")
    if info.get("format", {}).get("format_name") in _TEXT_FORMATS:
        raise BadInputError(f"not a media file: {label} (it is text)")
    kinds = [s.get("codec_type") for s in info.get("streams", [])]
    if not kinds:
        raise BadInputError(f"not a media file: {label} (no audio or video streams)")
    duration = float(info.get("format", {}).get("duration") or 0.0)
    audio = [s for s in info.get("streams", []) if s.get("codec_type") == "audio"]
    declared = audio[0].get("duration") if audio else None
    return Probe(duration=duration, audio_streams=kinds.count("audio"),
                 video_streams=kinds.count("video"),
                 audio_duration=float(declared) if declared not in (None, "N/A") else None)


def check_duration(seconds: float | None, label: str, max_duration: float | None) -> None:
    if max_duration and seconds and seconds > max_duration:
        raise BadInputError(f"{label} is {_length(seconds)} long, over max_duration "
                            f"{max_duration:.0f} s (raise SCRIBEFLOW_MAX_DURATION to take it)")


def _length(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


def to_pcm16k(source: Path, target: Path, label: str | None = None,
              max_duration: float | None = None) -> Probe:
    """Decode ``source``'s first audio stream to 16 kHz mono 16-bit WAV at ``target`` (atomic).
    Inputs longer than ``max_duration`` seconds are refused before decoding."""
    label = label or str(source)
    found = probe(source, label)
    if found.audio_streams == 0:
        raise BadInputError(f"no audio stream in {label}")
    check_duration(found.audio_duration or found.duration, label, max_duration)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp.wav")
    proc = subprocess.run(
        [_require("ffmpeg"), "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
         "-i", str(source), "-map", "0:a:0", "-vn", "-ac", "1", "-ar", str(SAMPLE_RATE),
         "-c:a", "pcm_s16le", str(tmp)],
        capture_output=True, text=True, check=False,
    )
    if proc.returncode != 0:
        tmp.unlink(missing_ok=True)
        if no_space(proc.stderr):
            raise storage_full(target.parent, f"decoding the audio of {label}")
        raise BadInputError(f"cannot decode audio of {label}: {_last_line(proc.stderr)}")
    decoded = probe(tmp, label)
    declared = found.audio_duration or found.duration
    if declared > 0 and decoded.duration < MIN_DECODED_SHARE * declared - 0.5:
        tmp.unlink(missing_ok=True)
        raise BadInputError(f"truncated or damaged media: {label} declares {declared:.1f} s of "
                            f"audio but only {decoded.duration:.1f} s decode")
    tmp.replace(target)
    return decoded


def _last_line(text: str) -> str:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[-1] if lines else ""
