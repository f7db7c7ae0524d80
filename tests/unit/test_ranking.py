import pytest

from scribeflow.ranking import BM25, reciprocal_rank_fusion, tokenize


def test_rrf_rewards_agreement_and_keeps_first_seen_order_on_ties():
    fused = reciprocal_rank_fusion([["a", "b", "c"], ["c", "d"]], k=60)
    assert [doc for doc, _ in fused] == ["c", "a", "b", "d"]
    assert fused[0][1] == pytest.approx(1 / 63 + 1 / 61)
    assert reciprocal_rank_fusion([["x", "y"], ["y", "x"]])[0][0] == "x"
    assert reciprocal_rank_fusion([[], []]) == []


def test_tokenize_keeps_numbers_and_names():
    assert tokenize("Invoice #88213, Zaragoza-Logistics!") == ["invoice", "88213", "zaragoza",
                                                              "logistics"]


def test_bm25_prefers_rare_terms_and_shorter_documents():
    texts = ["the cat sat on the mat", "the dog sat on the log",
             "the cat and the dog and the bird and the fish sat together", "nothing here"]
    bm25 = BM25(texts)
    scores = bm25.scores("cat")
    assert scores[0] > scores[2] > 0 and scores[1] == scores[3] == 0
    assert bm25.scores("the")[3] == 0
    assert list(bm25.scores("unknownword")) == [0, 0, 0, 0]
    assert bm25.scores("cat cat cat")[0] == pytest.approx(scores[0])
    assert BM25([]).scores("x").shape == (0,)
