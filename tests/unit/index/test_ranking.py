import pytest

from scribeflow.index.ranking import (
    BM25,
    FREQUENT_MIN_ROWS,
    KEYWORD_WEIGHT,
    SIMILARITY_FLOOR,
    fuse,
    stop_words,
    tokenize,
)


def test_fusion_keeps_a_clearly_better_meaning_match_first():
    # issue 28: the clear meaning match (0.386) had no keyword match; 34 passages at ~0.19
    # matched only small words and buried it under reciprocal rank fusion
    similarity = {"jfk": 0.386} | {f"p{i}": 0.192 - i / 1000 for i in range(34)}
    keyword = {f"p{i}": 5.0 - i / 10 for i in range(34)}
    ranked = fuse(similarity, keyword, k=35)
    assert ranked[0].key == "jfk" and not ranked[0].weak
    assert ranked[1].score == pytest.approx(0.192 + KEYWORD_WEIGHT)


def test_fusion_lets_keywords_order_passages_of_similar_meaning():
    ranked = fuse({"a": 0.40, "b": 0.36, "c": 0.2}, {"b": 3.0, "c": 1.0}, k=3)
    assert [r.key for r in ranked] == ["b", "a", "c"]
    assert ranked[0].score == pytest.approx(0.36 + KEYWORD_WEIGHT)
    assert ranked[2].score == pytest.approx(0.2 + KEYWORD_WEIGHT / 3)
    assert [r.key for r in fuse({"x": 0.3, "y": 0.3}, {}, k=2)] == ["x", "y"]  # ties: order
    assert fuse({}, {}, k=5) == []


def test_hits_under_the_floor_are_dropped_or_marked_weak_when_nothing_else_matches():
    low = SIMILARITY_FLOOR - 0.05
    ranked = fuse({"good": 0.5, "bad": low, "worse": -0.2}, {"bad": 9.0}, k=10)
    assert [r.key for r in ranked] == ["good"] and not ranked[0].weak
    weak = fuse({"bad": low, "worse": -0.2}, {"worse": 1.0}, k=10)
    assert [r.key for r in weak] == ["bad", "worse"] and all(r.weak for r in weak)
    assert weak[1].score == pytest.approx(-0.2 + KEYWORD_WEIGHT)


def test_tokenize_keeps_numbers_and_names():
    assert tokenize("Invoice #88213, Zaragoza-Logistics!") == ["invoice", "88213", "zaragoza",
                                                              "logistics"]


def test_bm25_prefers_rare_terms_and_shorter_documents():
    texts = ["a cat sat on a mat", "a dog sat on a log",
             "a cat and a dog and a bird and a fish sat together", "nothing here"]
    bm25 = BM25(texts)
    scores = bm25.scores("cat")
    assert scores[0] > scores[2] > 0 and scores[1] == scores[3] == 0
    assert list(bm25.scores("unknownword")) == [0, 0, 0, 0]
    assert bm25.scores("cat cat cat")[0] == pytest.approx(scores[0])
    assert BM25([]).scores("x").shape == (0,)


def test_bm25_ignores_each_rows_stop_words():
    texts = ["the president asked the citizens", "to be or not to be", "die Katze und der Hund"]
    bm25 = BM25(texts, ["en", "en", "de"])
    assert list(bm25.scores("the to be a")) == [0, 0, 0]  # English stop words
    assert bm25.scores("president")[0] > 0
    assert bm25.scores("und")[2] == 0 and bm25.scores("katze")[2] > 0
    # "the" is no stop word of a row whose language has no list: it still matches there
    assert BM25(["the kettle"], [None]).scores("the")[0] > 0
    assert "the" in stop_words("en") and "und" in stop_words("de")
    assert stop_words("zz") == stop_words(None) == stop_words("../en") == frozenset()


def test_bm25_ignores_words_most_rows_of_a_language_hold_in_any_language():
    n = FREQUENT_MIN_ROWS
    texts = [f"常见 词 {i}" for i in range(n - 1)] + ["罕见 词"]
    bm25 = BM25(texts, ["zh"] * n)
    assert not bm25.scores("词").any()  # in every row
    assert bm25.scores("罕见")[n - 1] > 0
    few = BM25(texts[:3], ["zh"] * 3)  # too few rows to tell: every word counts
    assert few.scores("词").all()
