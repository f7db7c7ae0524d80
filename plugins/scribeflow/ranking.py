"""Hybrid ranking: reciprocal rank fusion of a vector ranking and a keyword ranking.

RRF (Cormack et al., 2009) scores a document ``sum(1 / (k + rank))`` over the rankings it
appears in. It needs no score calibration between cosine similarity and BM25 or
``ts_rank``, so both stores fuse the same way: meanings come from the vectors, exact names
and numbers from the keywords.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Hashable, Sequence
from typing import Any

RRF_K = 60
_TOKEN = re.compile(r"\w+", re.UNICODE)


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[Hashable]], k: int = RRF_K
) -> list[tuple[Hashable, float]]:
    """Ids (any hashable: row ids, row positions) with fused scores, best first; ties keep
    first-seen order."""
    scores: dict[Hashable, float] = {}
    for ranking in rankings:
        for rank, doc_id in enumerate(ranking, start=1):
            scores[doc_id] = scores.get(doc_id, 0.0) + 1.0 / (k + rank)
    order = {doc_id: i for i, doc_id in enumerate(scores)}
    return sorted(scores.items(), key=lambda item: (-item[1], order[item[0]]))


def tokenize(text: str) -> list[str]:
    """Lower-cased words and numbers (what PostgreSQL's ``simple`` configuration keeps)."""
    return _TOKEN.findall(text.lower())


class BM25:
    """Okapi BM25 over a fixed list of texts (the Parquet store's keyword ranking).

    Each term's postings (document indices and precomputed BM25 weights) are numpy arrays
    built once, so a query costs the length of its terms' postings, not a pass over all
    documents in Python.
    """

    def __init__(self, texts: Sequence[str], k1: float = 1.2, b: float = 0.75):
        import numpy as np

        self.n_docs = len(texts)
        postings: dict[str, tuple[list[int], list[int]]] = {}
        lengths = np.zeros(self.n_docs, dtype=np.float32)
        for i, text in enumerate(texts):
            counts = Counter(tokenize(text))
            lengths[i] = sum(counts.values())
            for term, tf in counts.items():
                docs, tfs = postings.setdefault(term, ([], []))
                docs.append(i)
                tfs.append(tf)
        avg = float(lengths.mean()) if self.n_docs else 0.0
        norm = k1 * (1 - b + b * lengths / (avg or 1.0))
        self.postings: dict[str, tuple[Any, Any]] = {}
        for term, (docs, tfs) in postings.items():
            doc_index = np.asarray(docs, dtype=np.int32)
            tf = np.asarray(tfs, dtype=np.float32)
            idf = math.log(1 + (self.n_docs - len(docs) + 0.5) / (len(docs) + 0.5))
            self.postings[term] = (doc_index, idf * tf * (k1 + 1) / (tf + norm[doc_index]))

    def scores(self, query: str) -> Any:
        """A numpy array of each document's score for ``query`` (0 where no term matches)."""
        import numpy as np

        out = np.zeros(self.n_docs, dtype=np.float32)
        for term in dict.fromkeys(tokenize(query)):
            if term in self.postings:
                docs, weights = self.postings[term]
                out[docs] += weights
        return out
