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
    host: the host's, or a model's loaded here when the host does not answer. None without
    a model host (the search loads the model)."""
    if not settings.model_host:
        return None

    def vector(query: str) -> Any:
        found = hosted_vector(settings, query)
        if found is None:
            from scribeflow.index.embedding import embed_query, load_embedder

            found = embed_query(load_embedder(settings.embed_model), query)
        return found

    return vector


def warm(settings: PipelineSettings) -> str:
    """A server's warm-up (:class:`~scribeflow.index.search.ModelWarmup`): the model host's
    model, which it loads if it has not, or else the model loaded here; where it is."""
    if hosted_vector(settings, "warm up") is not None:
        return f"model host {settings.model_host}"
    from scribeflow.index.search import load_here

    return load_here(settings)
