"""Task callables of the ``digest`` DAG (``dags/digest.py``): the digest of the videos stored
since the last one, per source and overall, as Markdown, HTML and Atom."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from airflow.sdk import get_current_context

from scribeflow.core.config import PipelineSettings
from scribeflow.core.errors import BadInputError, ConfigError
from scribeflow_airflow.failures import fail

log = logging.getLogger(__name__)


def app_url() -> str:
    """The search app's absolute root (``[api] base_url`` + ``/scribeflow``), which the
    digests' and feeds' links start with."""
    from airflow.configuration import conf

    from scribeflow.pipeline.summary import APP_PREFIX

    base = (conf.get("api", "base_url", fallback=None) or "http://localhost:8080").rstrip("/")
    return base + APP_PREFIX


def write_digest() -> dict[str, Any]:
    """The digest of this run's period; a run the library's asset triggered that finds no
    new video writes nothing (the run's note says so)."""
    from scribeflow.library.digest import write_library_digest
    from scribeflow_airflow.hooks import open_data_storage

    context = get_current_context()
    run = context["dag_run"]
    settings = PipelineSettings.from_env()
    open_data_storage(settings)  # the bucket's credentials, from the scribeflow_data connection
    events = context.get("triggering_asset_events") or {}
    videos = sorted({e.extra.get("video_id") for evs in events.values() for e in evs
                     if e.extra.get("video_id")})
    scheduled = str(run.run_type) not in ("asset_triggered", "DagRunType.ASSET_TRIGGERED")
    log.info("digest run %s (%s); %d videos stored by the triggering runs", run.run_id,
             run.run_type, len(videos))
    # An asset-triggered run's time is its first queued event's. Airflow folds an event that
    # comes while the run is queued into it without consuming it or queueing another run, so
    # the period runs to now: a video stored before the digest ran is in it (seen in the
    # channels test when runs end close together). A re-run keeps the recorded period.
    until = run.run_after if scheduled else max(run.run_after, dt.datetime.now(dt.UTC))
    try:
        written = write_library_digest(settings, run.run_id, until, app_url(),
                                       scheduled=scheduled)
    except (BadInputError, ConfigError) as exc:
        fail(str(exc))
    return {"period": written.period.name, "videos": written.videos,
            "skipped": written.skipped, "files": len(written.files)}
