"""P1: the transcribe step against bare faster-whisper on the same audio, model and settings
(the product's defaults: ``BatchedInferencePipeline``, batch 16, beam 5, VAD, word
timestamps; on CPU one thread per core).

Both sides share one loaded model (the step's per-process cache is what a worker has after
its first task), run alternately, and the median of each is reported with their ratio.
Every timed call of the step transcribes: its transcript is removed before each call, so
the step's reuse of an unchanged transcript cannot answer instead (``step_reused`` counts
any that did, and must be 0).
Usage: python bench/transcribe_overhead.py [--seconds 120] [--repeats 5] [--quick]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from _common import ROOT, median, speech_wav, timed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="30 s of audio, 2 repeats")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.repeats = 30, 2

    from scribeflow.core.config import PipelineSettings
    from scribeflow.core.files import DataPaths, write_json_atomic
    from scribeflow.pipeline.transcription import transcribe_options, transcribe_video
    from scribeflow.speech.models import resolve_whisper_model, whisper_model_label
    from scribeflow.speech.whisper import (
        compute_type_for,
        load_model,
        resolve_device,
    )

    work = Path(tempfile.mkdtemp(prefix="bench-p1-"))
    audio = speech_wav(ROOT / "data" / "bench" / f"speech-{int(args.seconds)}s.wav", args.seconds)
    settings = PipelineSettings.from_env({"data_dir": str(work)})  # SCRIBEFLOW_* apply
    video = DataPaths(work).video("bench")
    video.root.mkdir(parents=True)
    video.audio.symlink_to(audio)
    write_json_atomic(video.metadata, {"video_id": "bench", "title": "bench"})

    device = resolve_device(settings.whisper_device)
    model_name = resolve_whisper_model(settings.whisper_model, device, settings.language)
    model = load_model(model_name, device, compute_type_for(device), settings.whisper_threads)
    kwargs = {"language": None, "beam_size": settings.beam_size,
              "vad_filter": settings.vad_filter, "word_timestamps": True}

    batched = transcribe_options(settings).batched
    words_seen: dict[str, set[int]] = {"bare": set(), "step": set()}
    reused = []

    def bare() -> None:
        if batched:  # the product's configuration, called bare
            from faster_whisper import BatchedInferencePipeline

            segments, _ = BatchedInferencePipeline(model=model).transcribe(
                str(audio), batch_size=settings.whisper_batch_size, **kwargs)
        else:
            segments, _ = model.transcribe(str(audio), **kwargs)
        words_seen["bare"].add(sum(len(s.words) for s in segments))

    def step() -> None:
        reused.append(transcribe_video(str(video.root), settings).reused)

    step()  # warm both paths once (first-call allocations, file cache)
    bare()
    bare_s, step_s = [], []
    for _ in range(args.repeats):
        bare_s.append(timed(bare))
        video.transcript.unlink()  # the step must transcribe, not reuse its last transcript
        step_s.append(timed(step))
        segments = json.loads(video.transcript.read_text())["segments"]
        words_seen["step"].add(sum(len(s["words"]) for s in segments))
    duration = json.loads(video.transcript.read_text())["duration"]
    result = {
        "audio_s": round(duration, 1), "device": device, "model": whisper_model_label(model_name),
        "bare_median_s": round(median(bare_s), 3), "step_median_s": round(median(step_s), 3),
        "bare_rtf": round(median(bare_s) / duration, 4),
        "step_rtf": round(median(step_s) / duration, 4),
        "ratio_step_over_bare": round(median(step_s) / median(bare_s), 3),
        "target": "<= 1.05",
        # evidence that each timed call did the work: the step never reused a transcript,
        # and each side heard the same words every time
        "timed_step_calls": args.repeats, "step_reused": sum(reused[1:]),
        "words": {side: sorted(counts) for side, counts in words_seen.items()},
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
