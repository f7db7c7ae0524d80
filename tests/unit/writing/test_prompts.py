import pytest

from scribeflow.writing.document import STAGES
from scribeflow.writing.prompts import PromptError, load_prompt, parse_prompt


def test_every_stage_has_a_versioned_template_that_renders():
    for name in STAGES:
        prompt = load_prompt(name)
        assert prompt.version.isdigit()
        text = prompt.render(text="HELLO BODY", previous_text="PREV", language="en")
        assert "HELLO BODY" in text and "{{" not in text


def test_polish_prompt_carries_previous_chunk_as_context():
    text = load_prompt("polish_sentences").render(text="now", previous_text="before", language="en")
    assert "<previous>\nbefore\n</previous>" in text and "<transcript>\nnow\n</transcript>" in text


def test_missing_variable_raises():
    prompt = parse_prompt("t", "---\nversion: 3\n---\nHello {{ name }} and {{ other }}")
    assert prompt.render(name="a", other="b") == "Hello a and b"
    with pytest.raises(PromptError, match="t v3: 'other' is undefined"):
        prompt.render(name="a")


@pytest.mark.parametrize("text", ["no front matter", "---\nauthor: x\n---\nbody"])
def test_template_without_version_is_rejected(text):
    with pytest.raises(PromptError):
        parse_prompt("bad", text)


def test_unknown_template_is_a_clear_error(tmp_path):
    with pytest.raises(PromptError, match="prompt template not found"):
        load_prompt("nope", tmp_path)
