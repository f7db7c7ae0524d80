"""A later run of a processed video with the quiz on: only quiz calls, then the quiz files,
the interactive page in a real browser, and the printable PDF."""

from __future__ import annotations

import io
from collections import Counter

import pytest
from e2e.conftest import process_talk

from scribeflow.core.files import read_json
from support.openai_server import stage_of

pytestmark = pytest.mark.e2e
WARM_HOSTS = True  # its runs go to the session's model host and run host


@pytest.fixture(scope="module")
def processed(media, run_pipeline, tmp_path_factory):
    yield from process_talk(media, run_pipeline, tmp_path_factory)


@pytest.fixture(scope="module")
def quizzed(processed, media, run_pipeline):
    before = len(processed.server.requests)
    outcome = run_pipeline(media.url("talk.mp4"), processed.data.root, "--chunk-words", "25",
                           "--quiz", env=processed.env)
    new = processed.server.requests[before:]
    return processed, outcome, new


def test_later_quiz_run_makes_only_quiz_calls(quizzed):
    processed, outcome, new = quizzed
    assert outcome.code == 0, outcome.output
    stages = Counter(stage_of(r.prompt) for r in new)
    assert set(stages) == {"quiz_question"}, stages
    chunks = read_json(processed.video.document_chunks)
    retries = sum("could not be read" in r.prompt for r in new)
    assert stages["quiz_question"] == 2 * len(chunks) + retries
    assert outcome.line("transcription") == "reused"
    assert outcome.line("quiz").endswith("unreadable answers dropped)")


def test_quiz_files(quizzed):
    processed, _, _ = quizzed
    quiz = read_json(processed.video.quiz)
    questions = quiz["questions"]
    assert len(questions) == 2 * len(read_json(processed.video.document_chunks))
    assert [q["number"] for q in questions] == list(range(1, len(questions) + 1))
    counts = Counter(q["answer"] for q in questions)
    assert max(counts.values()) - min(counts.values()) <= 1
    student = processed.video.quiz_md.read_text()
    assert "Answer" not in student and "Explanation" not in student
    key = processed.video.quiz_key.read_text().splitlines()
    assert key[0] == "# Answer key: talk" and len(key) == 2 + len(questions)


def test_quiz_pdf_has_the_answer_key_last(quizzed):
    from pypdf import PdfReader

    processed, _, _ = quizzed
    pages = [p.extract_text() for p in PdfReader(io.BytesIO(
        processed.video.quiz_pdf.read_bytes())).pages]
    assert "Answer key" in pages[-1]
    assert all("Answer key" not in p for p in pages[:-1])
    first = read_json(processed.video.quiz)["questions"][0]["question"]
    assert first[:30] in pages[0].replace("\n", " ")


@pytest.mark.parametrize(("how", "expected"), [("right", "grade A"), ("wrong", "grade F")])
def test_quiz_page_grades_an_attempt_offline(quizzed, browser, how, expected):
    from selenium.webdriver.common.by import By

    processed, _, _ = quizzed
    questions = read_json(processed.video.quiz)["questions"]
    browser.get(processed.video.quiz_html.as_uri())
    assert browser.title == "Quiz: talk"
    for i, q in enumerate(questions):
        choice = q["answer"] if how == "right" else (q["answer"] + 1) % 4
        browser.find_elements(By.CSS_SELECTOR, f"input[name=q{i}]")[choice].click()
    browser.find_element(By.ID, "grade").click()
    result = browser.find_element(By.ID, "result").text
    n = len(questions)
    assert result == (f"{n} / {n} (100%), {expected}" if how == "right"
                      else f"0 / {n} (0%), {expected}")
    notes = browser.find_elements(By.CSS_SELECTOR, ".explanation")
    assert all(note.is_displayed() for note in notes)
    if how == "wrong":
        assert notes[0].text.startswith("Answer: ")
