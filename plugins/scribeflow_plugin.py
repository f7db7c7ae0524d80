"""Airflow plugin: the transcript search page and its HTTP API inside the Airflow UI, the
channel digests, and the listener that writes each run's outcome into the run's note.

The FastAPI app is mounted in Airflow's API server under ``/scribeflow`` behind Airflow's
own authentication (the UI's session cookie or a bearer token from ``/auth/token``), and the
pages are registered in the UI's navigation ("Browse → Search transcripts", "Browse →
Channel digests").
"""

from __future__ import annotations

import functools

from airflow.plugins_manager import AirflowPlugin

from scribeflow_airflow import notes


@functools.cache
def _search_apps() -> list[dict]:
    from airflow.api_fastapi.core_api.security import get_user
    from fastapi import Depends

    from scribeflow.serve.api import create_app
    from scribeflow_airflow.hooks import LLMHook, open_data_storage, pgvector_dsn

    app = create_app(dependencies=[Depends(get_user)], dsn=pgvector_dsn,
                     storage=open_data_storage, llm=lambda: LLMHook().get_settings())
    return [{"app": app, "url_prefix": "/scribeflow", "name": "Scribeflow search"}]


class _SearchApps:
    """The search app, made when the API server asks for the plugins' apps. Every process
    that loads plugins imports this module (each ``dag.test()``, for the listener); making
    the app there cost it 1.4 s (``bench/per_video_overhead.py``)."""

    def __get__(self, instance: object, owner: type) -> list[dict]:
        return _search_apps()


class ScribeflowPlugin(AirflowPlugin):
    name = "scribeflow"
    listeners = [notes]
    fastapi_apps = _SearchApps()
    external_views = [{
        "name": "Search transcripts",
        "href": "scribeflow/",
        "destination": "nav",
        "category": "browse",
        "url_route": "scribeflow-search",
    }, {
        "name": "Channel digests",
        "href": "scribeflow/digests/",
        "destination": "nav",
        "category": "browse",
        "url_route": "scribeflow-digests",
    }]
