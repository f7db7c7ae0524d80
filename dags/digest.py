"""
### digest

What your channels said: the videos stored since the last digest, per source and overall,
with their dates, abstracts and key moments linked to the second they are about, as
Markdown, HTML (Browse → Channel digests) and Atom feeds a feed reader subscribes to
(`/scribeflow/digests/feed.atom`, and `feed-<source>.atom` for each source).

Scheduled on the `scribeflow_library` asset, which `video_pipeline`'s store task updates
with each video it stores (a run triggered so that finds nothing new writes nothing), and
every Monday at 07:00 UTC (an empty week's digest says so). Re-running a digest run gives
its period, and the same period gives the same files. Files land in
`$SCRIBEFLOW_DATA/digests/<period end>/`.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable, dag

from scribeflow_airflow import digests
from scribeflow_airflow.assets import LIBRARY
from scribeflow_airflow.steps import step


@dag(
    dag_id="digest",
    schedule=AssetOrTimeSchedule(timetable=CronTriggerTimetable("0 7 * * 1", timezone="UTC"),
                                 assets=[LIBRARY]),
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,  # periods follow each other
    tags=["scribeflow", "digest"],
    doc_md=__doc__,
    default_args={"owner": "scribeflow", "retries": 2, "retry_delay": timedelta(seconds=30)},
)
def digest():
    step(digests.write_digest)()


digest()
