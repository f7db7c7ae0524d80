"""Semantic search over the stored chunks: the one search function every surface calls."""

from __future__ import annotations

from typing import Any

from scribeflow.config import PipelineSettings
from scribeflow.errors import BadInputError
from scribeflow.records import SearchHit

MAX_K = 100


def search(
    query: str,
    settings: PipelineSettings,
    k: int = 10,
    *,
    video_id: str | None = None,
    embedder: Any | None = None,
    store: Any | None = None,
) -> list[SearchHit]:
    """The ``k`` stored units most similar to ``query``, best first.

    A query must fit the embedding model's input limit: it is refused, not truncated.
    """
    from scribeflow.embedding import (
        count_tokens,
        embed_texts,
        load_embedder,
        model_label,
        token_limit,
    )
    from scribeflow.store import open_store

    query = " ".join((query or "").split())
    if not query:
        raise BadInputError("empty query: give a few words to search for")
    if not 1 <= k <= MAX_K:
        raise BadInputError(f"k must be between 1 and {MAX_K}, not {k}")
    model = embedder or load_embedder(settings.embed_model)
    n_tokens, limit = count_tokens(model, query), token_limit(model)
    if n_tokens > limit:
        raise BadInputError(f"query too long: {n_tokens} word pieces, the embedding model takes "
                            f"at most {limit}")
    vector = embed_texts(model, [query])[0]
    store = store or open_store(settings)
    return store.search(vector, k, model=model_label(settings.embed_model), video_id=video_id)
