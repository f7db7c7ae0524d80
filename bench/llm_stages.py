"""P3: the LLM document stages of 40 chunks x 3 stages against a local OpenAI-compatible
server that answers after 400 ms, at concurrency 16, against the ideal bound: the critical
path max(3 x 0.4 s, ceil(120 / 16) x 0.4 s) = 3.2 s, since the stages of different chunks
may overlap. The median of the runs is the headline.

Runs ``process_group`` (what one ``write_document`` task runs) over all chunks in one
group, through the real openai client and HTTP, so the semaphore, retries wrapper, prompt
rendering and preamble filter are all in the measured path.
Usage: python bench/llm_stages.py [--chunks 40] [--concurrency 16] [--delay 0.4] [--quick]
"""

from __future__ import annotations

import argparse
import json
import math

from _common import median, timed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chunks", type=int, default=40)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--delay", type=float, default=0.4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="one repeat")
    args = parser.parse_args()
    if args.quick:
        args.repeats = 1

    from scribeflow.core.endpoints import LLMSettings
    from scribeflow.core.records import Chunk
    from scribeflow.writing.document import STAGES, process_group
    from support.openai_server import EditorScript, ScriptedOpenAI

    chunks = [Chunk(index=i, start=i * 30.0, end=i * 30.0 + 29,
                    text=f"this is chunk number {i} of the lesson and it talks about rivers " * 8)
              for i in range(args.chunks)]
    previous = {c.index: chunks[c.index - 1].text for c in chunks if c.index}
    script = EditorScript(refuse_word=None, error_at=0, rate_limit_first=False)
    times = []
    with ScriptedOpenAI(script, delay_s=args.delay) as server:
        settings = LLMSettings(base_url=server.base_url, api_key="k", model="m",
                               concurrency=args.concurrency)
        for _ in range(args.repeats):
            seconds = timed(lambda: process_group(chunks, previous, settings, "en"))
            times.append(seconds)
        requests = len(server.requests)
    calls = args.chunks * len(STAGES)
    ideal = max(len(STAGES), math.ceil(calls / args.concurrency)) * args.delay
    print(json.dumps({
        "chunks": args.chunks, "stages": len(STAGES), "concurrency": args.concurrency,
        "server_delay_s": args.delay, "runs_s": [round(t, 3) for t in times],
        # every run asked the server every question (nothing answered from a cache)
        "requests": requests, "requests_expected": calls * args.repeats,
        "ideal_s": round(ideal, 3), "median_s": round(median(times), 3),
        "ratio_median_over_ideal": round(median(times) / ideal, 3),
        "ratio_best_over_ideal": round(min(times) / ideal, 3),
        "target": "<= 1.3",
    }, indent=2))


if __name__ == "__main__":
    main()
