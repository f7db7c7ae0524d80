"""Hybrid ranking: how a search's vector and keyword candidates become one list, best first.

**Fusion.** A convex combination of each candidate's cosine similarity and its keyword score
normalised by the best keyword score among the candidates:
``score = similarity + KEYWORD_WEIGHT * keyword / best_keyword``. Bruch, Gai and Ingber
("An Analysis of Fusion Functions for Hybrid Retrieval", ACM TOIS 2023) found such a
combination better than reciprocal rank fusion and robust to its one weight. RRF, which this
replaced, scores ranks alone, so a passage whose only keyword matches were "the", "a" and
"to" outranked one with twice its similarity (issue 28: the clear meaning match ranked 35th
of 35). Here keywords move a hit by at most ``KEYWORD_WEIGHT``: they order passages of
similar meaning (a name, a number the query repeats) and cannot bury a clearly better one.
Both stores fuse with :func:`fuse` (Parquet's keyword score is BM25, pgvector's
``ts_rank_cd``; each is normalised within its own candidates).

**Floor.** Candidates under ``SIMILARITY_FLOOR`` are not listed while any candidate reaches
it; when none does, the best of them are listed marked weak.

**Stop words.** The Parquet store's BM25 leaves out each row's stop words: PostgreSQL's
Snowball lists for the languages that have one (``include/stopwords/<code>.txt``, the lists
pgvector's configurations use, so both stores ignore the same words), and in any language
with at least ``FREQUENT_MIN_ROWS`` rows the words in more than ``FREQUENT_SHARE`` of them.
"""

from __future__ import annotations

import functools
import math
import re
from collections import Counter
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

#: The most a keyword match adds to a cosine similarity (measured: bench/retrieval_eval.py).
KEYWORD_WEIGHT = 0.1
#: Under this cosine similarity a hit is not listed unless nothing reaches it
#: (all-MiniLM-L6-v2: unrelated passages score about -0.1 to 0.15).
SIMILARITY_FLOOR = 0.15
FREQUENT_MIN_ROWS = 20
FREQUENT_SHARE = 0.5
_TOKEN = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class Ranked:
    key: Hashable
    score: float
    similarity: float
    #: No candidate reached the similarity floor: this is the best of weak matches.
    weak: bool = False


def fuse(similarity: Mapping[Hashable, float], keyword: Mapping[Hashable, float],
         k: int) -> list[Ranked]:
    """The ``k`` best candidates, best first; ties keep ``similarity``'s order.

    ``similarity`` holds every candidate's cosine similarity (the keyword candidates' too);
    ``keyword`` the keyword scores of those that matched (any scale, higher is better)."""
    best = max(keyword.values(), default=0.0)
    scored = [Ranked(key, sim + (KEYWORD_WEIGHT * keyword.get(key, 0.0) / best if best > 0
                                 else 0.0), sim)
              for key, sim in similarity.items()]
    strong = [r for r in scored if r.similarity >= SIMILARITY_FLOOR]
    order = {r.key: i for i, r in enumerate(scored)}
    ranked = sorted(strong or scored, key=lambda r: (-r.score, order[r.key]))[:k]
    if strong:
        return ranked
    return [Ranked(r.key, r.score, r.similarity, weak=True) for r in ranked]


def tokenize(text: str) -> list[str]:
    """Lower-cased words and numbers (what PostgreSQL's ``simple`` configuration keeps)."""
    return _TOKEN.findall(text.lower())


@functools.cache
def stop_words(language: str | None) -> frozenset[str]:
    """The Snowball stop words of ``language`` (a Whisper code), empty for others."""
    from scribeflow.core.config import PROJECT_ROOT

    if not language or not re.fullmatch(r"[a-z]{2,3}", language):
        return frozenset()
    path = PROJECT_ROOT / "include" / "stopwords" / f"{language}.txt"
    if not path.exists():
        return frozenset()
    return frozenset(w.strip().lower() for w in path.read_text(encoding="utf-8").splitlines()
                     if w.strip())


class BM25:
    """Okapi BM25 over a fixed list of texts (the Parquet store's keyword ranking), without
    each text's stop words (its language's list, and the words most of that language's texts
    hold).

    Each term's postings (document indices and precomputed BM25 weights) are numpy arrays
    built once, so a query costs the length of its terms' postings, not a pass over all
    documents in Python.
    """

    def __init__(self, texts: Sequence[str], languages: Sequence[str | None] | None = None,
                 k1: float = 1.2, b: float = 0.75):
        import numpy as np

        self.n_docs = len(texts)
        languages = list(languages) if languages is not None else [None] * self.n_docs
        counts = [Counter(tokenize(text)) for text in texts]
        ignored = _ignored_terms(counts, languages)
        postings: dict[str, tuple[list[int], list[int]]] = {}
        lengths = np.zeros(self.n_docs, dtype=np.float32)
        for i, (terms, language) in enumerate(zip(counts, languages, strict=True)):
            skip = ignored.get(language, frozenset())
            kept = {t: tf for t, tf in terms.items() if t not in skip}
            lengths[i] = sum(kept.values())
            for term, tf in kept.items():
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


def _ignored_terms(counts: Sequence[Counter], languages: Sequence[str | None]
                   ) -> dict[str | None, frozenset[str]]:
    """Per language: its stop words, and the terms of more than ``FREQUENT_SHARE`` of its
    texts once it has ``FREQUENT_MIN_ROWS``."""
    by_language: dict[str | None, list[int]] = {}
    for i, language in enumerate(languages):
        by_language.setdefault(language, []).append(i)
    ignored = {}
    for language, rows in by_language.items():
        frequent: set[str] = set()
        if len(rows) >= FREQUENT_MIN_ROWS:
            df = Counter(term for i in rows for term in counts[i])
            frequent = {t for t, n in df.items() if n > FREQUENT_SHARE * len(rows)}
        ignored[language] = stop_words(language) | frequent
    return ignored
