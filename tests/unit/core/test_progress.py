"""Progress lines of long steps: what they say, and that they keep coming while a step runs."""

from __future__ import annotations

import logging
import threading

from scribeflow.core.progress import Progress, span


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_progress_line_gives_done_total_elapsed_and_time_left():
    fake = FakeClock()
    progress = Progress("transcribe", 720, "s of audio", time_source=fake)
    assert progress.line() == "transcribe: 0 / 720 s of audio (0%), 0:00 elapsed, time left not known yet"
    fake.now += 62
    progress.update(312)
    assert progress.line() == "transcribe: 312 / 720 s of audio (43%), 1:02 elapsed, about 1:21 left"
    progress.update(200)  # never goes back
    fake.now += 3600
    progress.update(720)
    assert progress.line() == "transcribe: 720 / 720 s of audio (100%), 1:01:02 elapsed"
    stages = Progress("write_document group 0", 0, "chunk stages", time_source=fake)
    stages.update(0, total=9)
    stages.add()
    assert stages.line().startswith("write_document group 0: 1 / 9 chunk stages (11%)")
    assert span(59.6) == "1:00" and span(-3) == "0:00"


def test_lines_keep_coming_while_the_step_is_busy_and_one_ends_it(caplog):
    """A step stuck on one long piece still logs: a background thread reports every
    ``every_s`` (here 0.05 s; 10 s in the tasks) until the step ends."""
    ticked = threading.Event()

    class Watched(Progress):
        def report(self) -> str:
            text = super().report()
            if len(self.lines) >= 4:
                ticked.set()
            return text

    with caplog.at_level(logging.INFO, logger="scribeflow.core.progress"):
        with Watched("transcribe", 60, "s of audio", every_s=0.05) as progress:
            progress.update(30)
            assert ticked.wait(30), progress.lines  # the step does nothing, lines still come
            progress.update(60)
    assert progress.lines[0].startswith("transcribe: 0 / 60 s of audio (0%)")
    assert progress.lines[-1].startswith("transcribe: 60 / 60 s of audio (100%)")
    assert len([r for r in caplog.records if r.getMessage().startswith("transcribe: ")]) \
        == len(progress.lines)
