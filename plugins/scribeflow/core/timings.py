"""Where a task's time goes: the wait from its process's start, imports, model loads, work.

A task wraps its step in :func:`timed`; code that imports a heavy library or loads a model
marks it with :func:`phase`. Outside :func:`timed`, :func:`phase` only runs its block. The
record lands in the run's summary (``timings``), where ``bench/per_video_overhead.py`` reads
it for both the in-process and the scheduler paths. :func:`peak_memory_mb` is the process's
memory high-water mark (the transcribe step and the model host report it).
"""

from __future__ import annotations

import contextvars
import os
import re
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

#: The phases a task's time is split into besides its work.
PHASES = ("imports", "model_load")


@dataclass
class TaskTiming:
    """One task's clock: wall-clock start and end (epoch seconds), when its process started,
    and the seconds spent in each phase; ``work_s`` is the rest."""

    started: float
    process_started: float | None
    ended: float | None = None
    phases: dict[str, float] = field(default_factory=lambda: dict.fromkeys(PHASES, 0.0))
    #: The top-level packages first imported in the ``imports`` phase (what a task paid for,
    #: whatever the machine's load made the seconds).
    imported: set[str] = field(default_factory=set)

    @property
    def work_s(self) -> float:
        total = (self.ended or time.time()) - self.started
        return max(total - sum(self.phases.values()), 0.0)

    def as_dict(self) -> dict[str, float | None]:
        return {"started": round(self.started, 3), "ended": round(self.ended or time.time(), 3),
                "process_started": (round(self.process_started, 3)
                                    if self.process_started is not None else None),
                **{f"{name}_s": round(s, 3) for name, s in self.phases.items()},
                "work_s": round(self.work_s, 3), "imported": sorted(self.imported)}


_CURRENT: contextvars.ContextVar[TaskTiming | None] = contextvars.ContextVar("timing",
                                                                             default=None)


@contextmanager
def timed() -> Iterator[TaskTiming]:
    """Time the block as one task; :func:`phase` blocks inside it are counted apart."""
    timing = TaskTiming(started=time.time(), process_started=process_started())
    token = _CURRENT.set(timing)
    try:
        yield timing
    finally:
        timing.ended = time.time()
        _CURRENT.reset(token)


@contextmanager
def phase(name: str) -> Iterator[None]:
    """Count the block's seconds as ``name`` (one of :data:`PHASES`) of the task timed now.
    Nested phases count once, in the outer one."""
    timing = _CURRENT.get()
    if timing is None or name not in timing.phases:
        yield
        return
    _CURRENT.set(None)  # nested phases are part of this one
    modules = set(sys.modules) if name == "imports" else None
    started = time.perf_counter()
    try:
        yield
    finally:
        timing.phases[name] += time.perf_counter() - started
        if modules is not None:
            timing.imported |= {m.partition(".")[0] for m in set(sys.modules) - modules
                                if not m.startswith("_")}
        _CURRENT.set(timing)


def process_started() -> float | None:
    """When this process started (epoch seconds, to the kernel's clock tick), or None where
    ``/proc`` does not tell."""
    try:
        with open("/proc/self/stat") as handle:  # field 22: the start, in ticks since boot
            ticks = int(handle.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as handle:
            uptime = float(handle.read().split()[0])
        return time.time() - (uptime - ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return None


def peak_memory_mb() -> int:
    """The peak resident memory of this process so far, in MB (the task's own process on
    Celery and LocalExecutor workers; the whole run with ``scribeflow run``)."""
    try:  # the high-water mark of this process image (ru_maxrss would count a forking parent's)
        status = Path("/proc/self/status").read_text()
        return round(int(re.search(r"^VmHWM:\s+(\d+) kB", status, re.M).group(1)) / 1024)
    except (OSError, AttributeError):
        import resource

        return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
