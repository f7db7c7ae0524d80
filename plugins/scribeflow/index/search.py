"""Hybrid search over the stored chunks: the one search function every surface calls
(``scribeflow search``, the HTTP API and the search page in the Airflow UI)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

from scribeflow.core.config import PipelineSettings
from scribeflow.core.errors import BadInputError
from scribeflow.core.records import SearchFilters, SearchHit, speaker_label

MAX_K = 100
#: Longer than any question; also catches single "words" the tokenizer would map to [UNK].
MAX_QUERY_CHARS = 1000
MAX_FILTER_CHARS = 200
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_SPEAKER = re.compile(r"(?:speaker\s*)?(\d{1,3})", re.IGNORECASE)


def check_filters(filters: SearchFilters) -> SearchFilters:
    """Validated filters: dates as ``YYYY-MM-DD``, a speaker as ``Speaker N`` (``N`` alone
    will do), bounded lengths; empty strings mean none."""
    values: dict[str, Any] = {}
    for name in ("video_id", "channel", "date_from", "date_to", "language", "speaker"):
        value = getattr(filters, name)
        value = value.strip() if isinstance(value, str) else value
        if value in ("", None):
            values[name] = None
            continue
        if len(value) > MAX_FILTER_CHARS:
            raise BadInputError(f"filter {name} is longer than {MAX_FILTER_CHARS} characters")
        if name.startswith("date_") and not _DATE.fullmatch(value):
            raise BadInputError(f"filter {name} must be a date as YYYY-MM-DD, not {value[:40]!r}")
        if name.startswith("date_"):
            try:
                dt.date.fromisoformat(value)
            except ValueError as exc:
                raise BadInputError(f"filter {name} is not a real date: {value!r} ({exc})") from None
        if name == "speaker":
            value = _speaker(value)
        values[name] = value
    if values["date_from"] and values["date_to"] and values["date_from"] > values["date_to"]:
        raise BadInputError(f"date_from {values['date_from']} is after date_to {values['date_to']}")
    return SearchFilters(**values)


def _speaker(value: str) -> str:
    """``Speaker N`` from ``N``, ``speaker n`` or ``Speaker N``; anything else is refused."""
    found = _SPEAKER.fullmatch(value)
    if not found or int(found.group(1)) < 1:
        raise BadInputError(f"filter speaker must be a speaker's number, as the transcript "
                            f"shows it (2 or 'Speaker 2'), not {value[:40]!r}")
    return speaker_label(int(found.group(1)) - 1)


def search(
    query: str,
    settings: PipelineSettings,
    k: int = 10,
    *,
    filters: SearchFilters | None = None,
    embedder: Any | None = None,
    query_vector: Callable[[str], Any] | None = None,
    store: Any | None = None,
    dsn: str | None = None,
) -> list[SearchHit]:
    """The ``k`` best stored units for ``query``, best first (vector + keyword, fused). The
    query's vector comes from ``query_vector(query)`` when given (a model host's:
    :mod:`scribeflow.serve.queries`), else, or when that gives None, from ``embedder`` or
    the model loaded here.

    A query must fit the embedding model's input limit: it is refused, not truncated.
    """
    from scribeflow.index.embedding import embed_query, load_embedder, model_label
    from scribeflow.index.store import open_store

    query = " ".join((query or "").split())
    if not query:
        raise BadInputError("empty query: give a few words to search for")
    if len(query) > MAX_QUERY_CHARS:
        raise BadInputError(f"query too long: {len(query)} characters, at most {MAX_QUERY_CHARS}")
    if not 1 <= k <= MAX_K:
        raise BadInputError(f"k must be between 1 and {MAX_K}, not {k}")
    filters = check_filters(filters or SearchFilters())
    vector = query_vector(query) if query_vector is not None else None
    if vector is None:  # refuses a query over the model's input limit
        vector = embed_query(embedder or load_embedder(settings.embed_model), query)
    store = store or open_store(settings, dsn)
    return store.search(vector, query, k, model=model_label(settings.embed_model), filters=filters)


class ModelWarmup:
    """Loads the search model in the background when a server starts, so the first query
    does not wait ~8 s for it, and says how far it got (the search page shows it). ``warm``
    (given the settings) does the loading instead and says where the model is, when a server
    has another way to embed its queries (a model host: :mod:`scribeflow.serve.queries`)."""

    def __init__(self, warm: Callable[[PipelineSettings], str] | None = None) -> None:
        import threading

        self.state, self.detail = "idle", ""  # idle: it loads with the first search
        self._warm = warm or load_here
        self._lock = threading.Lock()

    def start(self, settings: Any) -> None:
        """Load ``settings()``'s embedding model on a daemon thread (once)."""
        import threading

        with self._lock:
            if self.state in ("loading", "ready"):
                return
            self.state, self.detail = "loading", ""
        threading.Thread(target=self._load, args=(settings,), name="scribeflow-model-warmup",
                         daemon=True).start()

    def _load(self, settings: Any) -> None:
        import logging

        from scribeflow.core.errors import describe

        try:
            where = self._warm(settings())
        except Exception as exc:  # noqa: BLE001 - any cause is reported, not raised
            self.state, self.detail = "failed", describe(exc)
            logging.getLogger(__name__).error("search model not loaded: %s", self.detail)
        else:
            self.state, self.detail = "ready", where

    def to_dict(self) -> dict[str, str]:
        return {"state": self.state, "detail": self.detail}


def load_here(settings: PipelineSettings) -> str:
    """Load the search model in this process and embed one query (the first inference is
    slow too); nothing to say about where it is."""
    from scribeflow.index.embedding import embed_query, load_embedder

    embed_query(load_embedder(settings.embed_model), "warm up")
    return ""
