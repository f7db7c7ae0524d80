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
from collections.abc import Sequence

RRF_K = 60
_TOKEN = re.compile(r"\w+", re.UNICODE)


def reciprocal_rank_fusion(rankings: Sequence[Sequence[str]], k: int = RRF_K) -> list[tuple[str, float]]:
    """Ids with their fused scores, best first; ties keep first-seen order."""
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, doc_id in enumerate(ranking, start=1):
            scores[doc_id] = scores.get(doc_id, 0.0) + 1.0 / (k + rank)
    order = {doc_id: i for i, doc_id in enumerate(scores)}
    return sorted(scores.items(), key=lambda item: (-item[1], order[item[0]]))


def tokenize(text: str) -> list[str]:
    """Lower-cased words and numbers (what PostgreSQL's ``simple`` configuration keeps)."""
    return _TOKEN.findall(text.lower())


class BM25:
    """Okapi BM25 over a fixed list of texts (the Parquet store's keyword ranking)."""

    def __init__(self, texts: Sequence[str], k1: float = 1.2, b: float = 0.75):
        self.k1, self.b = k1, b
        self.docs = [Counter(tokenize(t)) for t in texts]
        self.lengths = [sum(d.values()) for d in self.docs]
        self.avg_length = (sum(self.lengths) / len(self.lengths)) if self.lengths else 0.0
        df: Counter[str] = Counter()
        for doc in self.docs:
            df.update(doc.keys())
        n = len(self.docs)
        self.idf = {term: math.log(1 + (n - f + 0.5) / (f + 0.5)) for term, f in df.items()}

    def scores(self, query: str) -> list[float]:
        terms = [t for t in dict.fromkeys(tokenize(query)) if t in self.idf]
        out = []
        for doc, length in zip(self.docs, self.lengths, strict=True):
            score = 0.0
            for term in terms:
                tf = doc.get(term, 0)
                if tf:
                    norm = tf + self.k1 * (1 - self.b + self.b * length / (self.avg_length or 1))
                    score += self.idf[term] * tf * (self.k1 + 1) / norm
            out.append(score)
        return out
