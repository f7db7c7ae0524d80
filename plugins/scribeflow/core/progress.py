"""How far a long step has got, in its log: done / total, elapsed time and time left, at least
every ``every_s`` seconds while it runs (from a background thread, so a step that is busy on
one long piece still says so), and once when it ends.

    transcribe: 312 / 720 s of audio (43 %), 1:02 elapsed, about 1:22 left

The task log carries it (so does ``scribeflow run -v``, which shows the task log).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

EVERY_S = 10.0


def span(seconds: float) -> str:
    """A span of time as ``1:02`` or ``1:02:03`` (rounded to the second)."""
    s = int(max(seconds, 0) + 0.5)
    h, m = divmod(s // 60, 60)
    return f"{h}:{m:02d}:{s % 60:02d}" if h else f"{m}:{s % 60:02d}"


class Progress:
    """Done / total of one step; a context manager that logs it while the step runs."""

    def __init__(self, label: str, total: float, unit: str, *, every_s: float = EVERY_S,
                 log: logging.Logger | None = None,
                 time_source: Callable[[], float] = time.monotonic):
        self.label, self.total, self.unit = label, float(total), unit
        self.every_s = every_s
        self.log = log or logging.getLogger("scribeflow.core.progress")
        self._now = time_source
        self.started = self._now()
        self.done = 0.0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.lines: list[str] = []  # what it logged, in order

    def update(self, done: float, total: float | None = None) -> None:
        """``done`` so far (never less than before); ``total`` when it became known."""
        with self._lock:
            if total is not None:
                self.total = float(total)
            self.done = max(self.done, float(done))

    def add(self, amount: float = 1.0) -> None:
        with self._lock:
            self.done += amount

    def line(self) -> str:
        with self._lock:
            done, total = self.done, self.total
        elapsed = self._now() - self.started
        number = "{:.0f}" if self.unit != "s of audio" or total >= 10 else "{:.1f}"
        head = f"{self.label}: {number.format(done)} / {number.format(total)} {self.unit}"
        if total <= 0:
            return f"{head}, {span(elapsed)} elapsed"
        share = min(done / total, 1.0)
        left = (f", about {span(elapsed * (1 - share) / share)} left" if 0 < share < 1
                else "" if share >= 1 else ", time left not known yet")
        return f"{head} ({share:.0%}), {span(elapsed)} elapsed{left}"

    def report(self) -> str:
        text = self.line()
        self.lines.append(text)
        self.log.info("%s", text)
        return text

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            self.report()

    def __enter__(self) -> Progress:
        self.report()
        self._thread = threading.Thread(target=self._run, name=f"progress-{self.label}",
                                        daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if exc[0] is None:
            self.report()
