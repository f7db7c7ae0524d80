"""Rendered documents: text from videos and models is escaped; PDFs are real PDFs."""

from __future__ import annotations

import io

from scribeflow.writing.quiz import QuizQuestion
from scribeflow.writing.render import document_page, quiz_page, quiz_print_page, write_pdf

EVIL = '<script>alert("x")</script>'


def test_document_page_escapes_model_and_video_text():
    page = document_page(f"Talk {EVIL}", f"# Title\n\nBody {EVIL} **bold**\n\n## {EVIL}")
    assert EVIL not in page
    assert "&lt;script&gt;" in page and "<strong>bold</strong>" in page
    assert '<h2 id="scriptalertxscript">&lt;script' in page  # an anchor of letters only


def test_each_turn_of_the_document_names_its_speaker_apart_and_escaped():
    markdown = ("# Call\n\nSpeaker 1: Hello, how are you?\n\n"
                "**Speaker 2 (the guest):** Fine.\n\n"
                f"Speaker 3 (<b>x</b>): {EVIL}\n\n"
                "Speaker 7: Late.\n\nA line about Speaker 1: not a turn.")
    page = document_page("Call", markdown)
    assert '<p class="turn"><span class="speaker s1">Speaker 1:</span> Hello, how are you?' in page
    assert '<span class="speaker s2">Speaker 2 (the guest):</span> Fine.' in page
    assert '<span class="speaker s3">Speaker 3 (&lt;b&gt;x&lt;/b&gt;):</span> &lt;script' in page
    assert '<span class="speaker s1">Speaker 7:</span> Late.' in page  # six colours, again
    assert EVIL not in page and "<b>" not in page and page.count('class="turn"') == 4
    assert "<p>A line about Speaker 1: not a turn.</p>" in page


def test_quiz_page_embeds_questions_safely():
    q = QuizQuestion(question=f"Which {EVIL}?", options=("a</script>", "b", "c", "d"), answer=0,
                     explanation="because", number=1)
    page = quiz_page("T", [q], None)
    assert page.count("</script>") == 2  # the JSON data block and the program, nothing else
    assert "a\\u003c/script\\u003e" in page


def test_pdfs_have_questions_first_and_the_key_last(tmp_path):
    from pypdf import PdfReader

    questions = [QuizQuestion(question=f"Question number {i}?", options=("w", "x", "y", "z"),
                              answer=i % 4, explanation=f"reason {i}", number=i + 1)
                 for i in range(3)]
    path = write_pdf(quiz_print_page("Clouds", questions), tmp_path / "quiz.pdf")
    reader = PdfReader(io.BytesIO(path.read_bytes()))
    pages = [p.extract_text() for p in reader.pages]
    assert len(pages) >= 2 and "Answer key" in pages[-1] and "Answer key" not in pages[0]
    assert "Question number 0?" in pages[0] and "reason 2" in pages[-1]
