"""Failing a task with its one-line cause: no retry, and no traceback in the task log.

Airflow's task runner logs every failure with the traceback of its own frames. For a
failure the cause explains (bad input, configuration, a site that blocks us, a full disk)
that buries the one line a user needs, so such failures are logged as the cause alone.
"""

from __future__ import annotations

from typing import Any, NoReturn

from airflow.sdk.exceptions import AirflowFailException


class CauseOnly(AirflowFailException):
    """A failure its one-line cause explains."""


def fail(cause: str) -> NoReturn:
    """Fail the running task with ``cause`` (no retry, no traceback)."""
    _log_causes_without_traceback()
    raise CauseOnly(cause) from None


def _drop_traceback_of_causes(logger: Any, method: str, event: dict[str, Any]) -> dict[str, Any]:
    """A structlog processor: the task runner's "Task failed with exception" for a
    :class:`CauseOnly` is logged as its cause, without Airflow's own frames."""
    import sys

    error = event.get("exc_info")
    error = sys.exc_info()[1] if error is True else error
    if isinstance(error, CauseOnly):
        event.pop("exc_info", None)
        event["event"] = f"Task failed: {error}"
    return event


def _log_causes_without_traceback() -> None:
    """Put :func:`_drop_traceback_of_causes` first in this task process's structlog chain (in
    place: the task runner's logger was bound to that list when it first logged)."""
    import structlog

    processors = structlog.get_config()["processors"]
    if isinstance(processors, list) and _drop_traceback_of_causes not in processors:
        processors.insert(0, _drop_traceback_of_causes)


