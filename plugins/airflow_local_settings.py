"""Airflow cluster policy for Scribeflow: bound downloads per video site with pools.

Airflow imports ``airflow_local_settings`` from its Python path (``plugins/`` here and in the
images) when a component starts. ``video_pipeline``'s ``download`` task sits in the pool
``downloads``; with ``SCRIBEFLOW_DOWNLOAD_POOLS=youtube.com=downloads_youtube,…`` each run's
download moves to its site's pool when its task instance is created, so a site that
throttles gets its own bound. Create those pools (``airflow pools set downloads_youtube 2 …``).

In every Airflow process it has ``jsonschema`` check each param schema against the
meta-schema once (:mod:`scribeflow_airflow.schemas`). In the scheduler and a Celery worker,
which fork the task processes, it also imports what every video's tasks import, once
(:mod:`scribeflow_airflow.preload`), and has their task supervisors see a task process end at
once (:mod:`scribeflow_airflow.supervision`).
"""

from __future__ import annotations

import sys
from typing import Any

from scribeflow_airflow.preload import launches_tasks, task_libraries
from scribeflow_airflow.schemas import check_each_schema_once

check_each_schema_once()
if launches_tasks(sys.argv):
    from scribeflow_airflow.supervision import wake_on_task_exit

    task_libraries()
    wake_on_task_exit()


def task_instance_mutation_hook(task_instance: Any, dag_run: Any = None) -> None:
    from scribeflow.core.config import DeploymentSettings

    pools = DeploymentSettings.from_env().download_pools
    if (not pools or dag_run is None or task_instance.task_id != "download"
            or task_instance.dag_id != "video_pipeline"):
        return
    from scribeflow.sources.sites import download_pool

    pool = download_pool(str((dag_run.conf or {}).get("url") or ""), pools)
    if pool:
        task_instance.pool = pool
