import pytest

from scribeflow.writing.preamble import filter_preamble, score_line

BODY = "The mitochondria is the powerhouse of the cell. It makes ATP from glucose."


@pytest.mark.parametrize(
    ("answer", "expected", "removed"),
    [
        (BODY, BODY, 0),
        (f"Certainly! Here's a refined version of the text:\n\n{BODY}", BODY, 1),
        (f"Sure! Here is the polished transcript:\n---\n{BODY}", BODY, 2),
        (f"Here's the formatted Markdown:\n\n```markdown\n{BODY}\n```", BODY, 3),
        (f"{BODY}\n\nLet me know if you need any further changes!", BODY, 1),
        (f"{BODY}\n\nI hope this helps. Feel free to ask for more edits.", BODY, 1),
        (f"I've formatted the text, ensuring consistency in formatting.\n\n{BODY}", BODY, 1),
        # content that merely opens with "of course" or ends with a colon stays
        ("Of course the market fell that year.", "Of course the market fell that year.", 0),
        ("There are three steps:\n1. Mix\n2. Knead", "There are three steps:\n1. Mix\n2. Knead", 0),
        # a tell in the middle of the text is content, not a preamble
        (f"{BODY}\nHere is the revised plan we adopted.\n{BODY}",
         f"{BODY}\nHere is the revised plan we adopted.\n{BODY}", 0),
    ],
)
def test_filter_preamble(answer, expected, removed):
    result = filter_preamble(answer)
    assert result.text == expected
    assert len(result.removed) == removed
    assert not result.refused
    if removed:
        assert 0 < result.removed_pct < 100


def test_answer_that_is_all_chatter_is_kept_and_flagged():
    result = filter_preamble("Certainly! Here's the refined text:")
    assert result.refused and result.text == "Certainly! Here's the refined text:"


def test_refuses_to_remove_more_than_chatter_can_be():
    many = "\n".join(["Here's the refined text:"] * 6) + "\n" + BODY
    result = filter_preamble(many)
    assert result.refused and result.text == many


def test_long_lines_are_never_tells():
    line = "Certainly! " + " ".join(["word"] * 60)
    assert score_line(line) == 0
    assert score_line("Certainly! Here's a refined version:") >= 3
