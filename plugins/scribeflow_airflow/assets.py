"""The library as an Airflow asset: ``video_pipeline``'s store task updates it (one event per
video stored, its id, source and language in the event's ``extra``), and the ``digest`` DAG
is scheduled on it."""

from __future__ import annotations

from airflow.sdk import Asset

LIBRARY = Asset(name="scribeflow_library", uri="scribeflow://library/")
