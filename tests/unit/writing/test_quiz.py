"""The quiz normaliser over the many shapes models answer in, and the ones it must refuse."""

from __future__ import annotations

from collections import Counter

import pytest

from scribeflow.writing.quiz import (
    QuizParseError,
    QuizQuestion,
    answer_key_markdown,
    check_question,
    finalise,
    parse_question,
    student_markdown,
)

OPTIONS = ("Evaporation", "Condensation", "Precipitation", "Collection")
Q = "Which process turns water vapor into clouds?"

ACCEPTED = {
    "answer-line": f"{Q}\nA) Evaporation\nB) Condensation\nC) Precipitation\nD) Collection\n"
                   "Answer: B",
    "bold-option": f"**Question 1:** {Q}\n\nA) Evaporation\n**B) Condensation**\n"
                   "C) Precipitation\nD) Collection",
    "bold-text-only": f"{Q}\na. Evaporation\nb. **Condensation**\nc. Precipitation\n"
                      "d. Collection",
    "check-mark": f"Q: {Q}\n(A) Evaporation\n(B) Condensation ✅\n(C) Precipitation\n"
                  "(D) Collection",
    "correct-answer-paren-lower": f"1. {Q}\na) Evaporation\nb) Condensation\nc) Precipitation\n"
                                  "d) Collection\n\nCorrect answer: (b)",
    "dash-colon-options": f"### {Q}\n- A: Evaporation\n- B: Condensation\n- C: Precipitation\n"
                          "- D: Collection\n**Answer:** B",
    "correct-tag": f"{Q}\nA. Evaporation\nB. Condensation (correct)\nC. Precipitation\n"
                   "D. Collection",
    "the-correct-answer-is": f"{Q}\nA) Evaporation\nB) Condensation\nC) Precipitation\n"
                             "D) Collection\nThe correct answer is B) Condensation.",
    "explanation-before": f"{Q}\nA) Evaporation\nB) Condensation\nC) Precipitation\n"
                          "D) Collection\nExplanation: vapor cools and condenses.\nAnswer: B",
    "explanation-after": f"Question: {Q}\nA) Evaporation\nB) Condensation\nC) Precipitation\n"
                         "D) Collection\nCorrect Answer - B\nExplanation: vapor cools and "
                         "condenses.",
    "answer-and-bold-agree": f"{Q}\nA) Evaporation\n**B) Condensation**\nC) Precipitation\n"
                             "D) Collection\nAnswer: B",
    "brackets": f"{Q}\n[A] Evaporation\n[B] Condensation ✔\n[C] Precipitation\n[D] Collection",
}


@pytest.mark.parametrize("shape", sorted(ACCEPTED))
def test_accepted_shapes(shape):
    q = parse_question(ACCEPTED[shape])
    assert q.question == Q
    assert q.options == OPTIONS
    assert q.answer == 1 and q.answer_letter == "B"


def test_explanations_are_kept():
    assert parse_question(ACCEPTED["explanation-before"]).explanation == \
        "vapor cools and condenses."
    assert parse_question(ACCEPTED["explanation-after"]).explanation == \
        "vapor cools and condenses."


@pytest.mark.parametrize("said", [
    "**Answer: B) Condensation.** Vapor *cools* in the air and **condenses** into droplets.",
    "Answer: B\nExplanation: **Condensation.** Vapor cools in the air and condenses into "
    "droplets.",
    "Answer: B ** Vapor cools in the air and __condenses__ into droplets.",
])
def test_an_explanation_is_plain_text_without_the_answer_said_again(said):
    q = parse_question(f"{Q}\nA) Evaporation\nB) Condensation\nC) Precipitation\n"
                       f"D) Collection\n{said}")
    assert q.answer_letter == "B"
    assert q.explanation == "Vapor cools in the air and condenses into droplets."
    assert "Condensation happens" in parse_question(
        f"{Q}\nA) Evaporation\nB) Condensation\nC) Precipitation\nD) Collection\n"
        "Answer: B\nExplanation: Condensation happens when vapor cools.").explanation

    structured = check_question(QuizQuestion(  # a structured answer's fields, the same way
        question=Q, options=OPTIONS, answer=1,
        explanation="**Answer: B) Condensation.** Vapor *cools* and condenses."))
    assert structured.explanation == "Vapor cools and condenses."


REJECTED = {
    "empty": ("", "empty answer"),
    "no-answer": (f"{Q}\nA) Evaporation\nB) Condensation\nC) Precipitation\nD) Collection",
                  "no correct answer"),
    "three-options": (f"{Q}\nA) Evaporation\nB) Condensation\nC) Precipitation\nAnswer: B",
                      "expected options A-D, found ABC"),
    "five-options": (f"{Q}\nA) a\nB) b\nC) c\nD) d\nE) e\nAnswer: B", "more than 4 options"),
    "conflict": (f"{Q}\nA) Evaporation\n**B) Condensation**\nC) Precipitation\nD) Collection\n"
                 "Answer: C", "conflicting correct answers: B, C"),
    "two-bold": (f"{Q}\n**A) Evaporation**\n**B) Condensation**\nC) Precipitation\n"
                 "D) Collection", "conflicting correct answers: A, B"),
    "duplicate-letter": (f"{Q}\nA) Evaporation\nA) Condensation\nC) Precipitation\n"
                         "D) Collection\nAnswer: A", "option A appears twice"),
    "duplicate-text": (f"{Q}\nA) Rain\nB) rain\nC) Snow\nD) Hail\nAnswer: A",
                       "two options have the same text"),
    "no-question": ("A) Evaporation\nB) Condensation\nC) Precipitation\nD) Collection\n"
                    "Answer: B", "no question text"),
    "refusal": ("I'm sorry, but I can't create a quiz from this text.", "expected options A-D"),
    "prose": ("Condensation is when water vapor turns into liquid water.", "expected options"),
}


@pytest.mark.parametrize("shape", sorted(REJECTED))
def test_rejected_shapes(shape):
    text, reason = REJECTED[shape]
    with pytest.raises(QuizParseError, match=reason):
        parse_question(text)


def question(i: int, answer: int) -> QuizQuestion:
    return QuizQuestion(question=f"Q{i}?", options=tuple(f"opt{i}{c}" for c in "abcd"),
                        answer=answer, explanation=f"because {i}")


def test_finalise_balances_positions_renumbers_and_keeps_answers():
    questions = [question(i, 1) for i in range(10)]  # a model that always picks B
    final = finalise(questions, seed="video-1")
    assert [q.number for q in final] == list(range(1, 11))
    assert Counter(q.answer for q in final) == {0: 3, 1: 3, 2: 2, 3: 2}
    for before, after in zip(questions, final, strict=True):
        assert after.options[after.answer] == before.options[before.answer]
        assert sorted(after.options) == sorted(before.options)
    assert finalise(questions, seed="video-1") == final
    assert finalise(questions, seed="video-2") != final


def test_markdown_outputs():
    final = finalise([question(0, 0), question(1, 2)], seed="s")
    student = student_markdown("Clouds", final)
    assert "# Quiz: Clouds" in student and "**1. Q0?**" in student and "- A) " in student
    assert "because" not in student and "Answer" not in student
    key = answer_key_markdown("Clouds", final)
    assert key.splitlines()[2].startswith(f"1. **{final[0].answer_letter}**) opt0a — because 0")


def test_json_round_trip():
    q = finalise([question(3, 2)], seed="x")[0]
    assert QuizQuestion.from_dict(q.to_dict()) == q
