"""P13: transcription through an endpoint, whole and split at silences: what the seams cost.

The same speech (espeak-ng reading sentences that never repeat, 16 kHz WAV) goes through the
product's endpoint backend (``scribeflow.speech.endpoint``) to a real local
``/v1/audio/transcriptions`` server running tiny.en (``tests/support/speech_server.py``,
sequential decoding, beam 5): once whole, and once with an upload limit that splits it into
pieces of about ``--piece-s`` seconds cut at silences. Reported: the WER of each against the
text it was made from, the WER of the split transcript against the whole one (what the seams
cost), the same within ``--seam-window`` seconds of each seam, and the time of each side
(median of ``--rounds`` alternating rounds, after one untimed warm-up request that loads the
server's model). Nothing is cached: every round uploads again.
Usage: python bench/split_transcription.py [--minutes 6] [--piece-s 60] [--rounds 3] [--quick]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import wave
from pathlib import Path

from _common import median
from transcribe_sweep import speech


def near(transcript, seams: list[float], window: float) -> str:
    return " ".join(w.word.strip() for s in transcript.segments for w in s.words
                    if any(abs(w.start - t) <= window for t in seams))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=6.0)
    parser.add_argument("--piece-s", type=float, default=60.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seam-window", type=float, default=3.0)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.minutes, args.piece_s, args.rounds = 1.0, 20.0, 1

    from scribeflow.core.endpoints import TranscriptionSettings
    from scribeflow.evaluation.metrics import error_rates
    from scribeflow.speech.endpoint import transcribe_endpoint
    from support.speech_server import WhisperEndpoint

    work = Path(tempfile.mkdtemp(prefix="bench-split-"))
    audio, text = speech(work / "speech.wav", args.minutes)
    sides = {"whole": 1000.0, "split": args.piece_s * 32_000 / 1e6}  # 16 kHz 16-bit: 32 kB/s
    times: dict[str, list[float]] = {side: [] for side in sides}
    results = {}
    with WhisperEndpoint() as server:
        warm = work / "warm-up.wav"
        with wave.open(str(audio), "rb") as source, wave.open(str(warm), "wb") as out:
            out.setparams(source.getparams())
            out.writeframes(source.readframes(10 * source.getframerate()))
        transcribe_endpoint(warm, "warm-up", TranscriptionSettings(base_url=server.base_url,
                                                                   api_key="sk-test"))
        for round_ in range(args.rounds):
            for side in sorted(sides, reverse=bool(round_ % 2)):  # alternate the order
                settings = TranscriptionSettings(base_url=server.base_url, api_key="sk-test",
                                                 max_upload_mb=sides[side])
                before = len(server.uploads)
                started = time.perf_counter()
                results[side] = transcribe_endpoint(audio, "bench", settings)
                times[side].append(time.perf_counter() - started)
                assert len(server.uploads) - before == results[side].settings["pieces"]
        uploads = len(server.uploads) - 1  # not the warm-up
    whole, split = results["whole"], results["split"]
    seams = split.settings["seams_s"]
    seam_whole, seam_split = (near(whole, seams, args.seam_window),
                              near(split, seams, args.seam_window))
    figures = {
        "minutes": round(whole.duration / 60, 2), "pieces": split.settings["pieces"],
        "seams_s": seams, "uploads": uploads, "rounds": args.rounds,
        "words": {"whole": len(whole.text.split()), "split": len(split.text.split())},
        "wer_whole": error_rates(text, whole.text)["wer"],
        "wer_split": error_rates(text, split.text)["wer"],
        "wer_split_vs_whole": error_rates(whole.text, split.text)["wer"],
        "wer_near_seams_split_vs_whole": (error_rates(seam_whole, seam_split)["wer"]
                                          if seam_whole else None),
        "words_near_seams": len(seam_whole.split()),
        "time_s": {side: [round(t, 2) for t in values] for side, values in times.items()},
        "ratio_split_over_whole": round(median(times["split"]) / median(times["whole"]), 3),
    }
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
