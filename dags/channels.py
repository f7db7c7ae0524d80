"""
### channel\\_\\_&lt;name&gt;: follow a channel, playlist or feed

One DAG per source in `include/channels.yaml` (or `$SCRIBEFLOW_CHANNELS`). Each run covers
its data interval `[start, end)`:

1. **list_new_videos** lists the source (stopping once entries are older than the interval),
   keeps what was published inside it, skips with a logged reason what must not be processed
   (live or upcoming streams, private or members-only entries, shorts unless enabled,
   durations or titles outside the source's filters, videos already stored or already
   triggered, from any source), and picks the newest, at most `max_per_run` (and the daily
   cap); the rest waits for the next run. Pending videos of earlier runs come first in line.
2. **trigger_video_pipeline** (mapped) triggers `video_pipeline` once per video under the
   run id `ingest__<video id>`: overlapping runs and backfills never process a video twice
   (an existing run is skipped, not an error).
3. **record_triggers** writes what happened to `runs/channel__<name>/<run_id>/summary.json`.

**Backfills**: `airflow backfill create --dag-id channel__<name> --from-date … --to-date …`
(or the UI's *Trigger → Backfill*) picks exactly the uploads of that window.

**catchup** is on by default (set `catchup: false` per source to change it): after downtime
every missed interval runs, one at a time (`max_active_runs=1`), so no upload is missed.
Set `start_date` to when you start following; older uploads are a backfill's work.
New source DAGs start paused: unpause them in the UI when the source is ready.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import DAG, CronDataIntervalTimetable

from scribeflow.sources.catalog import Source, load_sources
from scribeflow_airflow import channels
from scribeflow_airflow.steps import step


def channel_dag(source: Source) -> DAG:
    start = datetime(*source.start_date.timetuple()[:3], tzinfo=UTC)
    end = (datetime(*source.end_date.timetuple()[:3], tzinfo=start.tzinfo)
           if source.end_date else None)
    with DAG(
        dag_id=source.dag_id,
        # Data intervals, not Airflow 3's default trigger timetable (whose runs have empty
        # intervals): a run covers the uploads between the previous fire time and its own.
        schedule=CronDataIntervalTimetable(source.schedule, timezone="UTC"),
        start_date=start,
        end_date=end,
        catchup=source.catchup,
        max_active_runs=1,
        is_paused_upon_creation=True,
        tags=["scribeflow", "channel", *source.tags],
        doc_md=f"Source `{source.name}`: {source.url} ({source.schedule}).\n\n{__doc__}",
        default_args={"owner": "scribeflow", "retries": 1, "retry_delay": timedelta(minutes=2)},
    ) as dag:
        requests = step(channels.list_new_videos)(source.name)
        triggered = TriggerDagRunOperator.partial(
            task_id=channels.TRIGGER_TASK, trigger_dag_id=channels.VIDEO_DAG,
            skip_when_already_exists=True, wait_for_completion=False,
            map_index_template="{{ task.trigger_run_id }}",
        ).expand_kwargs(requests)
        recorded = step(channels.record_triggers, trigger_rule="all_done")()
        requests >> triggered >> recorded
    return dag


for _source in load_sources().sources:
    globals()[_source.dag_id] = channel_dag(_source)
