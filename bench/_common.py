"""Helpers shared by the benchmarks: synthetic speech and timing."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "plugins"))
sys.path.insert(0, str(ROOT / "tests"))  # the scripted OpenAI-compatible server
os.environ.setdefault("HF_HUB_OFFLINE", "1")

LESSON = (
    "Welcome to this lesson about the water cycle. The sun heats the ocean and water rises "
    "into the sky as vapor. High in the air the vapor cools and forms clouds. When the "
    "droplets grow heavy they fall back to the ground as rain or snow. Rivers carry the "
    "water back to the sea, and the cycle begins again. "
)


def speech_wav(path: Path, seconds: float) -> Path:
    """About ``seconds`` of espeak-ng speech as 16 kHz mono WAV."""
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    repeats = max(1, round(seconds / 20.5))  # LESSON takes about 20.5 s to speak
    raw = path.with_suffix(".raw.wav")
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(raw), LESSON * repeats],
                   check=True)
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(raw), "-ac", "1",
                    "-ar", "16000", str(path)], check=True)
    raw.unlink()
    return path


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def median(values: list[float]) -> float:
    return statistics.median(values)
