"""A search's query vector from this host's model host when the server has one
(``SCRIBEFLOW_MODEL_HOST``: the Airflow UI's api-server under ``make up``, ``scribeflow
serve`` and ``scribeflow search`` beside a host), where the embedding model stays loaded: the
server then imports no torch and loads no model of its own. Under ``make up`` the
api-server's own load at start held up the execution API for about 5 s, and the first tasks
with it (P15 in ``bench/README.md``)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from scribeflow.core.config import PipelineSettings

log = logging.getLogger(__name__)


def hosted_vector(settings: PipelineSettings, query: str) -> Any | None:
    """``query``'s vector from ``settings.model_host``; None without one, or when it does
    not answer (one warning line: the caller embeds the query here). A query over the model's
    input limit is refused there as here (:class:`~scribeflow.core.errors.BadInputError`)."""
    if not settings.model_host:
        return None
    from scribeflow.hosts.model_client import ModelHostClient, ModelHostUnavailable

    try:
        return ModelHostClient(settings.model_host).query_vector(settings.embed_model, query)
    except ModelHostUnavailable as exc:
        log.warning("%s; searching with a model loaded here", exc)
        return None


def query_vectors(settings: PipelineSettings) -> Callable[[str], Any] | None:
    """What :func:`~scribeflow.index.search.search` asks for a query's vector with a model
    host: the host's, or None when it does not answer (the search then embeds the query with
    a model loaded here). None without a model host."""
    if not settings.model_host:
        return None
    return lambda query: hosted_vector(settings, query)


#: How long a server's warm-up waits for its model host to answer: the two may start at once
#: (``make up`` starts both, and the host loads its models before it serves). Loading the
#: model in the server instead, while the host was still loading, held up the Airflow
#: api-server for seconds (P15's unpause request failed: ``database is locked``).
HOST_WAIT_S = 180.0


def warm(settings: PipelineSettings, wait_s: float = HOST_WAIT_S) -> str:
    """A server's warm-up (:class:`~scribeflow.index.search.ModelWarmup`): the model host's
    model, which it loads if it has not, once the host answers (within ``wait_s``), or else
    the model loaded here (one warning line); where it is."""
    import time

    if settings.model_host:
        from scribeflow.hosts.model_client import ModelHostClient, ModelHostUnavailable

        deadline = time.monotonic() + wait_s
        while True:
            try:
                ModelHostClient(settings.model_host).query_vector(settings.embed_model, "warm up")
            except ModelHostUnavailable as exc:
                if time.monotonic() < deadline:
                    time.sleep(0.5)
                    continue
                log.warning("%s; searching with a model loaded here", exc)
                break
            return f"model host {settings.model_host}"
    from scribeflow.index.search import load_here

    return load_here(settings)
