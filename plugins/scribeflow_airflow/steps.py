"""How the DAGs make a task of one of Scribeflow's callables."""

from __future__ import annotations

from typing import Any

from airflow.sdk import task


def step(python_callable: Any, **kwargs: Any) -> Any:
    """``@task`` for ``python_callable``: what it returns is one XCom. Airflow would also push
    a returned dict key by key: 74 more XComs in every video run, each a request to the
    execution API and a row written (``bench/backlog_throughput.py``)."""
    return task(python_callable, multiple_outputs=False, **kwargs)
