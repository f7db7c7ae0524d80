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


SUBJECTS = ("the river", "a farmer", "the old bridge", "my teacher", "the small village",
            "a bright comet", "the city council", "our neighbour", "the museum", "a young fox",
            "the ferry", "the baker", "a distant storm", "the library", "the orchestra")
VERBS = ("repaired", "described", "followed", "painted", "measured", "protected", "visited",
         "photographed", "carried", "discovered", "explained", "counted", "cleaned", "opened")
OBJECTS = ("the northern fields", "a wooden boat", "seven copper bells", "the winter market",
           "an empty lighthouse", "the mountain road", "a box of letters", "the harbour wall",
           "twelve apple trees", "the railway station", "a silver kettle", "the garden gate",
           "the quiet valley", "a stack of maps", "the school choir", "a broken clock")
WHEN = ("last spring", "before sunrise", "after the flood", "in early March", "every Sunday",
        "during the festival", "at noon", "in the autumn rain", "after dinner", "last week")


def unique_speech(minutes: float) -> str:
    """About ``minutes`` of speech in which no sentence repeats (150 words a minute)."""
    import itertools
    import random

    combos = list(itertools.product(SUBJECTS, VERBS, OBJECTS, WHEN))
    random.Random(7).shuffle(combos)
    sentences, words = [], 0
    for subject, verb, obj, when in combos:
        sentence = f"{subject.capitalize()} {verb} {obj} {when}."
        sentences.append(sentence)
        words += len(sentence.split())
        if words >= minutes * 150:
            break
    return " ".join(sentences)
