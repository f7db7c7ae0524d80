"""What every video's tasks import, imported once by the process their processes are forked
from: the run host (``scribeflow runs serve``), the scheduler (whose LocalExecutor workers
fork each task) and a Celery worker (``airflow_local_settings``)."""

from __future__ import annotations

#: The Airflow commands whose processes fork task processes.
TASK_LAUNCHERS = (("scheduler",), ("celery", "worker"))


def launches_tasks(argv: list[str]) -> bool:
    """Whether ``argv`` is an ``airflow`` command that forks task processes."""
    return (bool(argv) and argv[0].endswith("airflow")
            and any(tuple(argv[1:1 + len(c)]) == c for c in TASK_LAUNCHERS))


def task_libraries() -> None:
    """Import the download's yt-dlp (its 1,750 extractors' URL patterns compiled, 0.35 s of
    every download otherwise, and the generic extractor a feed's media file goes to), the
    rendering's WeasyPrint and markdown-it (about 1 s of every run), and the modules the DAG
    files' tasks are made of (0.25 s of every task process: 20 s of a 6-video backlog through
    the scheduler; ``bench/backlog_throughput.py``). The DAG files themselves are still read
    by every task, and settings when they are used; a change to Scribeflow's code reaches
    the tasks once the process that forks them is restarted.

    Pure imports that start no thread, so a process may fork after them (polars and numpy's
    BLAS start threads: not here; a test checks)."""
    import markdown_it  # noqa: F401
    import weasyprint  # noqa: F401
    from yt_dlp.extractor import gen_extractor_classes

    for extractor in gen_extractor_classes():
        extractor.suitable("")
    import yt_dlp.extractor.generic  # noqa: F401

    import scribeflow_airflow.channels  # noqa: F401
    import scribeflow_airflow.tasks  # noqa: F401
