import pytest

from scribeflow.writing.quality import ScoreParseError, parse_score


@pytest.mark.parametrize(
    ("answer", "score"),
    [("87", 87), ("Score: 87/100", 87), ("I'd rate it 87 out of 100.", 87), ("**92**", 92),
     ("Quality score: 74", 74), ("Rating: 88.6 / 100", 89), ("100%", 100), ("0", 0),
     ("The document captures 3 key ideas well. Score: 81/100", 81)],
)
def test_scores(answer, score):
    assert parse_score(answer) == score


@pytest.mark.parametrize(
    ("answer", "reason"),
    [("", "no single score"), ("Excellent work!", "no single score"),
     ("150", "outside 0-100"), ("Score: 120/100", "outside 0-100"), ("-5", "outside 0-100"),
     ("Between 70 and 80", "no single score"), ("Score: 70/100, or maybe 80/100", "several")],
)
def test_rejected(answer, reason):
    with pytest.raises(ScoreParseError, match=reason):
        parse_score(answer)
