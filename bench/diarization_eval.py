"""Speaker evaluation (D1): who spoke when, on real recordings of different people.

Inputs, all real people (no espeak-ng voice, which is too unlike a person's to judge by),
from PyPI wheels, resampled to the pipeline's 16 kHz mono WAV:

- **call**: pyannote.audio's ``sample.wav``, two women on the phone (30 s), with its RTTM:
  real conversation, interruptions and one overlap (left out of the scoring).
- **panel**: six people one after the other, 0.5 s apart, the first coming back four times:
  a LibriVox reader (moonshine-voice's ``two_cities.wav``, in four pieces), F5-TTS's three
  voice references (``main``, ``town``, ``country``), its English reference
  (``basic_ref_en``) and moonshine's ``clone-test``; and 3 s of music (a chord from ffmpeg)
  between two turns, which must not become a speaker.
- **one reader**: ``two_cities.wav``, one man reading (44 s): one speaker, not several.
  (His ``beckett.wav``, recorded apart, is told apart from it at the default threshold: the
  same person in two recording sessions can count twice.)

Each is transcribed by the product's whisper step (``language=en``) and given to the
product's ``speakers.diarize``, with the count to find and with the true count given.
Scores, at 10 ms frames with a 0.25 s collar around each true change (the NIST convention):
**coverage** (share of true speech labelled with a speaker), **confusion** (share labelled
with the wrong one, after the best one-to-one mapping of labels), **false alarm** (labelled
where nobody speaks), **DER** (miss + false alarm + confusion), and the **time per minute
of audio** diarization adds on this CPU. ``--encoders campplus,resemblyzer`` also runs the
same windows and clustering on Resemblyzer's embeddings (when it is installed), at the true
count, to compare the two models; ``similarity`` gives each model's cosine similarity
between whole recordings of one person and of different people.

Usage: python bench/diarization_eval.py [--encoders campplus,resemblyzer] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import wave
from pathlib import Path

from _common import ROOT, WAV_16K

from support.media import wheel_files

SOURCES = {
    "pyannote.audio==3.3.2": ("pyannote/audio/sample/sample.wav",
                              "pyannote/audio/sample/sample.rttm"),
    "moonshine-voice==0.1.5": ("moonshine_voice/assets/two_cities.wav",
                               "moonshine_voice/assets/beckett.wav",
                               "moonshine_voice/assets/clone-test.wav"),
    "f5-tts==1.1.22": ("f5_tts/infer/examples/basic/basic_ref_en.wav",
                       "f5_tts/infer/examples/multi/main.flac",
                       "f5_tts/infer/examples/multi/town.flac",
                       "f5_tts/infer/examples/multi/country.flac"),
}
RATE = 16000
GAP_S = 0.5
COLLAR_S = 0.25
FRAME_S = 0.01
#: The panel: (recording, piece start s, piece end s) in order; the reader comes back.
PANEL = (("two_cities", 0.0, 9.0), ("main", 0, None), ("two_cities", 9.0, 18.0),
         ("town", 0, None), ("MUSIC", 0, 3.0), ("basic_ref_en", 0, None),
         ("two_cities", 18.0, 27.5), ("country", 0, None), ("clone-test", 0, None),
         ("two_cities", 27.5, 36.0))
#: Who is who (two_cities and beckett are one reader: both models say so, 0.77).
PERSON = {"two_cities": "reader", "beckett": "reader", "main": "main", "town": "town",
          "country": "country", "basic_ref_en": "ref_en", "clone-test": "clone"}


def pcm16k(path: Path, folder: Path):
    """The recording as float32 samples at 16 kHz mono (ffmpeg converts it once)."""
    import subprocess

    import numpy as np

    out = folder / f"{path.stem}.16k.wav"
    if not out.exists():
        subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(path),
                        *WAV_16K, str(out)], check=True)
    with wave.open(str(out), "rb") as wav:
        return np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").astype(
            np.float32) / 32768.0


def trimmed(pcm):
    """The samples from the first to the last 20 ms frame within 35 dB of the loudest."""
    import numpy as np

    frames = pcm[: len(pcm) // 320 * 320].reshape(-1, 320)
    level = 10 * np.log10((frames ** 2).mean(axis=1) + 1e-10)
    loud = np.flatnonzero(level > level.max() - 35)
    return pcm[loud[0] * 320:(loud[-1] + 1) * 320]


def music(seconds: float):
    """A chord (A major, with a beat): sound that is not speech."""
    import numpy as np

    t = np.arange(int(seconds * RATE)) / RATE
    tone = sum(np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6, 440.0))
    return (0.15 * tone * (0.6 + 0.4 * np.sin(2 * np.pi * 2 * t))).astype(np.float32)


def write_wav(path: Path, pcm) -> Path:
    import numpy as np

    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(RATE)
        wav.writeframes((np.clip(pcm, -1, 1) * 32767).astype("<i2").tobytes())
    return path


def joined(parts, folder: Path, name: str) -> tuple[Path, list[tuple[float, float, str]]]:
    """``parts`` ((samples, person or None), …) one after the other, ``GAP_S`` apart, and
    the true turns (music has no speaker)."""
    import numpy as np

    gap = np.zeros(int(GAP_S * RATE), dtype=np.float32)
    pieces, turns, at = [], [], 0.0
    for pcm, person in parts:
        if person:
            turns.append((at, at + len(pcm) / RATE, person))
        pieces += [pcm, gap]
        at += (len(pcm) + len(gap)) / RATE
    return write_wav(folder / f"{name}.wav", np.concatenate(pieces)), turns


def build(folder: Path) -> list[tuple[str, Path, list[tuple[float, float, str]]]]:
    paths = wheel_files(folder / "real", SOURCES)
    files = {p.stem: p for p in paths if p.suffix != ".rttm"}
    rttm = next(p for p in paths if p.suffix == ".rttm")
    pcm = {name: pcm16k(files[name], folder) for name in PERSON}
    parts = []
    for name, start, end in PANEL:
        if name == "MUSIC":
            parts.append((music(end), None))
            continue
        whole = pcm[name]
        piece = whole[int(start * RATE):int(end * RATE) if end else len(whole)]
        parts.append((trimmed(piece), PERSON[name]))
    panel = joined(parts, folder, "panel")
    reader = joined([(trimmed(pcm["two_cities"]), "reader")], folder, "one_reader")
    call = folder / "call.wav"
    write_wav(call, pcm16k(files["sample"], folder))
    call_turns = []
    for line in rttm.read_text().splitlines():
        fields = line.split()
        call_turns.append((float(fields[3]), float(fields[3]) + float(fields[4]), fields[7]))
    return [("call", call, call_turns), ("panel", *panel), ("one reader", *reader)]


def score(truth: list[tuple[float, float, str]], turns, duration: float) -> dict:
    """Coverage, confusion, false alarm and DER of ``turns`` against ``truth``."""
    import numpy as np
    from scipy.optimize import linear_sum_assignment

    n = int(duration / FRAME_S) + 1
    ref = np.full(n, -1)
    people = sorted({p for _, _, p in truth})
    for start, end, person in truth:
        span = slice(int(start / FRAME_S), int(end / FRAME_S))
        ref[span] = np.where(ref[span] == -1, people.index(person), -2)  # -2: overlap
    scored = ref != -2
    collar = int(COLLAR_S / FRAME_S)
    for start, end, _ in truth:
        for edge in (int(start / FRAME_S), int(end / FRAME_S)):
            scored[max(edge - collar, 0):edge + collar] = False
    hyp = np.full(n, -1)
    names = sorted({t.speaker for t in turns})
    for turn in turns:
        hyp[int(turn.start / FRAME_S):int(turn.end / FRAME_S)] = names.index(turn.speaker)
    speech = scored & (ref >= 0)
    labelled = speech & (hyp >= 0)
    overlap = np.zeros((len(people), max(len(names), 1)))
    np.add.at(overlap, (ref[labelled], hyp[labelled]), 1)
    rows, cols = linear_sum_assignment(-overlap)
    correct = overlap[rows, cols].sum()
    total = speech.sum()
    miss = (speech & (hyp < 0)).sum()
    false_alarm = (scored & (ref == -1) & (hyp >= 0)).sum()
    confusion = labelled.sum() - correct
    return {"speakers_true": len(people), "speakers_found": len(names),
            "coverage": round(1 - miss / total, 3), "confusion": round(confusion / total, 3),
            "false_alarm": round(false_alarm / total, 3),
            "der": round((miss + false_alarm + confusion) / total, 3)}


class ResemblyzerEncoder:
    """Resemblyzer's GE2E encoder on the same windows, for comparison."""

    name = "resemblyzer"

    def __init__(self):
        from resemblyzer import VoiceEncoder

        self.model = VoiceEncoder("cpu", verbose=False)

    def embed(self, pieces):
        import numpy as np

        vectors = np.array([self.model.embed_utterance(p) for p in pieces])
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def similarity(model, folder: Path) -> dict:
    """Cosine similarity of whole recordings: one person (the reader's two) and different
    people (every other pair)."""
    import itertools

    import numpy as np

    names = list(PERSON)
    vectors = model.embed([trimmed(pcm16k(next((folder / "real").glob(f"{n}.*")), folder))
                           for n in names])
    same, different = [], []
    for (i, a), (j, b) in itertools.combinations(enumerate(names), 2):
        (same if PERSON[a] == PERSON[b] else different).append(float(vectors[i] @ vectors[j]))
    return {"one_person": round(min(same), 3), "different_people_max": round(max(different), 3),
            "different_people_median": round(float(np.median(different)), 3)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--encoders", default="campplus")
    parser.add_argument("--json", help="also write the result here")
    parser.add_argument("--quick", action="store_true", help="the same evaluation (about a "
                        "minute: it is small)")
    args = parser.parse_args()

    from scribeflow.speech import speakers
    from scribeflow.speech.whisper import TranscribeOptions, transcribe

    folder = ROOT / "data" / "bench" / "diarization"
    folder.mkdir(parents=True, exist_ok=True)
    inputs = build(folder)
    options = TranscribeOptions(model="auto", device="cpu", language="en")
    encoders = {"campplus": speakers.encoder}
    encoders["resemblyzer"] = ResemblyzerEncoder
    result: dict = {"inputs": {}, "D1": {}}
    for name, audio, truth in inputs:
        with tempfile.TemporaryDirectory():
            transcript = transcribe(audio, name, options)
        duration = transcript.duration
        result["inputs"][name] = {"seconds": round(duration, 1), "words": sum(
            len(s.words) for s in transcript.segments), "people": len({p for *_, p in truth})}
        for enc in args.encoders.split(","):
            model = encoders[enc]()
            rows = result["D1"].setdefault(enc, {}).setdefault(name, {})
            counts = (("found", speakers.SpeakerOptions()),
                      ("given", speakers.SpeakerOptions(num_speakers=len({p for *_, p in truth}))))
            for label, opts in counts:
                if enc != "campplus" and label == "found":
                    continue  # its threshold is CAM++'s; compared at the true count only
                started = time.perf_counter()
                found = speakers.diarize(audio, transcript.segments, opts, model)
                seconds = time.perf_counter() - started
                rows[label] = score(truth, found.turns, duration) | {
                    "s_per_audio_minute": round(seconds / duration * 60, 2),
                    "windows": found.windows}
    for enc in args.encoders.split(","):
        result.setdefault("similarity", {})[enc] = similarity(encoders[enc](), folder)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text)


if __name__ == "__main__":
    main()
