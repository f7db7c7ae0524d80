"""Model text on the rendered pages, in a real browser: every question renders, exactly as
written, and nothing in it runs."""

from __future__ import annotations

import pytest

from scribeflow.writing.quiz import QuizQuestion
from scribeflow.writing.render import quiz_page, script_json

pytestmark = pytest.mark.e2e

HOSTILE = [
    "<!--<script>",
    "</script><script>window.pwned = 1</script>",
    "<![CDATA[ ]]> <!-- -->",
    "<img src=x onerror=\"window.pwned = 2\">",
    "&lt;b&gt; &amp; &#60;script&#62; &nbsp;",
    "\"quoted\" 'single' `back` \\\\ backslash",
    "\u202eright-to-left\u202c mark \u200f and \u200e",
    "line\u2028separator\u2029paragraph",
    "</SCRIPT ><script>window.pwned = 3</script>",
    "<script>window.pwned = 4</script>",
    "]]> --> <!-- <script>",
    "{{ template }} ${js} %s",
]


def questions() -> list[QuizQuestion]:
    return [QuizQuestion(question=f"What does {text} mean?",
                         options=(text, f"not {text}", "plain", f"{text} again"), answer=0,
                         explanation=f"Because {text}.", number=n + 1)
            for n, text in enumerate(HOSTILE)]


def test_script_json_leaves_nothing_that_can_end_or_comment_out_a_script():
    import json

    data = [q.to_dict() for q in questions()]
    embedded = script_json(data)
    assert not any(c in embedded for c in "<>&\u2028\u2029")
    assert json.loads(embedded) == data


def test_every_hostile_question_renders_as_written_and_none_runs(browser, tmp_path):
    from selenium.webdriver.common.by import By

    page = tmp_path / "quiz.html"
    page.write_text(quiz_page("Hostile <title> & co", questions(), quality=None),
                    encoding="utf-8")
    browser.get(page.as_uri())
    legends = [e.get_attribute("textContent")
               for e in browser.find_elements(By.CSS_SELECTOR, "fieldset legend")]
    assert legends == [f"{n + 1}. What does {text} mean?" for n, text in enumerate(HOSTILE)]
    labels = browser.find_elements(By.CSS_SELECTOR, "fieldset#q1 label")
    assert labels[0].get_attribute("textContent") == f" A) {HOSTILE[0]}"
    assert browser.execute_script("return window.pwned === undefined")
    assert browser.execute_script("return document.scripts.length") == 2
    browser.find_element(By.ID, "grade").click()
    assert browser.find_element(By.ID, "result").text.startswith(f"0 / {len(HOSTILE)}")
    notes = [e.get_attribute("textContent")
             for e in browser.find_elements(By.CSS_SELECTOR, ".explanation")]
    assert notes[1] == f"Answer: A) {HOSTILE[1]}. Because {HOSTILE[1]}."
    assert browser.execute_script("return window.pwned === undefined")
