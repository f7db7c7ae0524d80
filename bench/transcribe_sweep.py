"""P10: CPU transcription settings swept side by side: time and word error rate.

Every configuration transcribes the same speech (espeak-ng reading sentences that never
repeat, 16 kHz WAV) with the same model (the bundled tiny.en, int8) and the product's fixed
choices (VAD on, word timestamps on); what varies is sequential or
``BatchedInferencePipeline``, batch size, beam size and CPU threads. The WER is against the
text the speech was made from (lower-cased, punctuation removed). Configurations run in
rounds, each round in a new order, and the median time is reported. The product's default
CPU path is timed the same way (``scribeflow.speech.whisper.transcribe``) and compared with the
fastest bare configuration whose WER is no worse. Picking the fastest of twelve noisy
medians favours whichever was lucky, so the ratio is then measured head to head: the product
and that configuration alternate for ``--confirm`` more rounds, and the P10 ratio is the
median of the product's times over the median of the configuration's in those rounds.

P16 (``--only models``) chooses the CPU's ``whisper_model=auto``: each bundled model (tiny.en,
English only; base, 99 languages) transcribes, through the product's ``transcribe`` with the
language left to detect, espeak-ng speech in English, German and Spanish (no sentence
repeated) and the real recordings of the f5-tts wheel (four English readings, one Chinese),
timed (median of ``--rounds``) and scored against their texts: WER, or CER for Chinese. Each
transcript's subtitles are checked against the broadcast rules as they were before issue 30
(one cue per segment) and as the product cuts them now (``speech.subtitles.cues``): the
number of cues that break a rule, each counted once.

Usage: python bench/transcribe_sweep.py [--minutes 3.5] [--rounds 3] [--confirm 5] [--quick]
       [--only settings|models]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import time
import wave
from pathlib import Path

from _common import ROOT, WAV_16K, median, spoken, unique_speech

CONFIGS = [  # (name, batched, batch_size, beam_size)
    ("sequential beam 5", False, None, 5),
    ("sequential beam 1", False, None, 1),
    ("batched 4 beam 5", True, 4, 5),
    ("batched 8 beam 5", True, 8, 5),
    ("batched 16 beam 5", True, 16, 5),
    ("batched 8 beam 1", True, 8, 1),
]


def speech(path: Path, minutes: float) -> tuple[Path, str]:
    text = unique_speech(minutes)
    return spoken(path, text, *WAV_16K), text


def words(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=3.5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--confirm", type=int, default=5,
                        help="rounds of the product against the chosen configuration")
    parser.add_argument("--threads", default="0,2",
                        help="cpu_threads values, comma-separated (0: CTranslate2's default)")
    parser.add_argument("--quick", action="store_true", help="40 s of speech, one round, 2 threads")
    parser.add_argument("--only", choices=("settings", "models"), default=None,
                        help="P10 (settings) or P16 (models) alone; both by default")
    args = parser.parse_args()
    if args.quick:
        args.minutes, args.rounds, args.confirm, args.threads = 40 / 60, 1, 1, "2"
    figures: dict = {}
    if args.only in (None, "settings"):
        figures |= settings_sweep(args)
    if args.only in (None, "models"):
        figures |= model_sweep(args)
    print(json.dumps(figures, indent=2, ensure_ascii=False))


def normalized(text: str, language: str) -> str:
    """Lower case, punctuation out; Chinese as its characters, one per word."""
    if language == "zh":
        return " ".join(ch for ch in text if ch.isalnum())
    return " ".join(re.sub(r"[^\w' ]+", " ", text.lower()).split())


def model_sweep(args: argparse.Namespace) -> dict:
    """P16: every bundled model on every language, through the product's ``transcribe``."""
    import jiwer
    from _languages import language_inputs

    from scribeflow.speech.subtitles import Cue, SubtitleStyle, cues, problems
    from scribeflow.speech.whisper import TranscribeOptions, transcribe

    english = unique_speech(min(args.minutes, 1.5))
    inputs = language_inputs(ROOT / "data" / "bench" / "languages", english)
    if args.quick:  # one input of each kind: espeak-ng English and German, a real recording
        inputs = [i for i in inputs if i[0] in ("espeak-ng English", "espeak-ng German",
                                                 "real basic_ref_zh.wav", "real town.flac")]
    results: dict[str, dict[str, dict]] = {}
    for model in ("tiny.en", "base"):
        options = TranscribeOptions(model=model, device="cpu", language="auto")
        transcribe(inputs[0][2], "warm-up", options)  # the model's load is not timed
        for name, language, path, text in inputs:
            runs = [transcribe(path, name, options) for _ in range(args.rounds)]
            heard = runs[0].text
            style = SubtitleStyle.for_language(runs[0].language)
            # the subtitles before issue 30 (one cue a segment) and now, by the same rules
            before = [Cue(seg.start, seg.end, (seg.text.strip(),)) for seg in runs[0].segments]
            after = cues(runs[0].segments, style)
            score = jiwer.wer(normalized(text, language), normalized(heard, language) or "-")
            results.setdefault(name, {})[model] = {
                "median_s": round(median([r.processing_s for r in runs]), 3),
                "audio_s": round(runs[0].duration, 1),
                "rtf": round(median([r.processing_s for r in runs]) / runs[0].duration, 4),
                "cer" if language == "zh" else "wer": round(score, 4),
                "detected": runs[0].language,
                "probability": runs[0].language_probability,
                "words": len(heard.split()), "heard": heard[:80],
                "subtitles": {"cues_before": len(before),
                              "breaking_rules_before": len({p.split(":")[0]
                                                            for p in problems(before, style)}),
                              "cues_after": len(after),
                              "breaking_rules_after": len({p.split(":")[0]
                                                           for p in problems(after, style)})}}
    english_rows = [n for n, lang, _, _ in inputs if lang == "en"]
    time_ratio = [results[n]["base"]["median_s"] / results[n]["tiny.en"]["median_s"]
                  for n in english_rows]
    return {"models": results, "P16": {
        "english_inputs": len(english_rows),
        "base_over_tiny_en_time_english": round(median(time_ratio), 3),
        "wer_english_tiny_en": round(median([results[n]["tiny.en"]["wer"]
                                             for n in english_rows]), 4),
        "wer_english_base": round(median([results[n]["base"]["wer"] for n in english_rows]), 4),
        "subtitle_cues_breaking_rules": {
            when: sum(row[m]["subtitles"][f"breaking_rules_{when}"] for row in results.values()
                      for m in row)
            for when in ("before", "after")},
        "subtitle_cues": {when: sum(row[m]["subtitles"][f"cues_{when}"]
                                    for row in results.values() for m in row)
                          for when in ("before", "after")},
        "best_per_language": {
            name: min(row, key=lambda m: row[m].get("wer", row[m].get("cer")))
            for name, row in results.items()}}}


def settings_sweep(args: argparse.Namespace) -> dict:
    """P10: the CPU settings of the bundled tiny.en, bare and through the product."""

    import jiwer
    import numpy as np
    from faster_whisper import BatchedInferencePipeline, WhisperModel

    from scribeflow.core.config import PipelineSettings
    from scribeflow.pipeline.transcription import transcribe_options
    from scribeflow.speech.models import resolve_whisper_model
    from scribeflow.speech.whisper import (
        cpu_threads_for,
        load_model,
        transcribe,
    )

    path, reference = speech(ROOT / "data" / "bench" / f"unique-{args.minutes:g}min.wav",
                             args.minutes)
    with wave.open(str(path)) as wav:
        samples = np.frombuffer(wav.readframes(wav.getnframes()), "<i2").astype(np.float32) / 32768
    audio_s = len(samples) / 16000
    model_path = resolve_whisper_model("tiny.en", "cpu")
    threads = [int(t) for t in args.threads.split(",")]
    # the configuration with the product's threads runs on the very model the product's path
    # loads (as P1 does): two instances of one model differed by 8 % here, whichever was timed
    models = {n: load_model(model_path, "cpu", "int8", n) if n == cpu_threads_for(0)
              else WhisperModel(model_path, device="cpu", compute_type="int8", cpu_threads=n)
              for n in threads}
    kwargs = {"language": "en", "vad_filter": True, "word_timestamps": True}

    def run_bare(n: int, batched: bool, batch_size: int | None, beam: int) -> tuple[float, str]:
        model = models[n]
        started = time.perf_counter()
        if batched:
            segments, _ = BatchedInferencePipeline(model=model).transcribe(
                samples, batch_size=batch_size, beam_size=beam, **kwargs)
        else:
            segments, _ = model.transcribe(samples, beam_size=beam, **kwargs)
        text = " ".join(s.text for s in segments)  # decoding happens while iterating
        return time.perf_counter() - started, text

    settings = PipelineSettings(data_dir=ROOT / "data" / "bench", whisper_device="cpu",
                                whisper_model="tiny.en", language="en")

    def run_product() -> tuple[float, str]:
        transcript = transcribe(path, "sweep", transcribe_options(settings))
        return transcript.processing_s, transcript.text

    cases = [(f"{name}, {n or 'default'} threads",
              lambda n=n, b=batched, s=size, k=beam: run_bare(n, b, s, k))
             for n in threads for name, batched, size, beam in CONFIGS]
    cases.append(("product default", run_product))
    times: dict[str, list[float]] = {name: [] for name, _ in cases}
    errors: dict[str, float] = {}
    for name, fn in cases:  # warm-up: first-call allocations, and the WER of each
        _, text = fn()
        errors[name] = jiwer.wer(words(reference), words(text))
    rng = random.Random(11)
    for _ in range(args.rounds):
        order = cases[:]
        rng.shuffle(order)
        for name, fn in order:
            times[name].append(fn()[0])
    table = {name: {"median_s": round(median(t), 3), "rtf": round(median(t) / audio_s, 4),
                    "wer": round(errors[name], 4)} for name, t in times.items()}
    product = table["product default"]
    bare = {k: v for k, v in table.items() if k != "product default"}
    best = min((k for k, v in bare.items() if v["wer"] <= product["wer"]),
               key=lambda k: bare[k]["median_s"], default=None)
    head_to_head: dict[str, list[float]] = {"product default": [], str(best): []}
    if best is not None:
        chosen = dict(cases)[best]
        for i in range(args.confirm):  # alternated: product first in even rounds
            pair = [("product default", run_product), (best, chosen)]
            for name, fn in (pair if i % 2 == 0 else pair[::-1]):
                head_to_head[name].append(fn()[0])
    return {
        "audio_s": round(audio_s, 1), "rounds": args.rounds, "model": "tiny.en int8",
        "configurations": table,
        "fastest_bare_with_no_worse_wer": best,
        "head_to_head_s": {k: [round(x, 3) for x in v] for k, v in head_to_head.items()},
        "P10": {"product_s": product["median_s"], "product_wer": product["wer"],
                "best_bare": best, "best_bare_s": bare[best]["median_s"] if best else None,
                "sweep_ratio": round(product["median_s"] / bare[best]["median_s"], 3)
                if best else None,
                "ratio_product_over_best_bare":
                    round(median(head_to_head["product default"]) / median(head_to_head[best]), 3)
                    if best else None,
                "target": "<= 1.05"},
    }


if __name__ == "__main__":
    main()
