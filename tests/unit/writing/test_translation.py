"""Translation through the real client against a real local server with scripted, messy
answers: lines kept by number, passages whole, the target language checked offline."""

import pytest

from scribeflow.core.cache import LLMCache
from scribeflow.core.endpoints import LLMSettings
from scribeflow.writing.llm import Unusable
from scribeflow.writing.translation import translate, wrong_language
from support.openai_server import EditorScript, Reply, ScriptedOpenAI

LINES = ["Welcome to this short lesson", "about the water cycle.",
         "The sun heats the ocean and water rises", "into the sky as vapor."]
PASSAGES = ["## The Water Cycle\n\nThe sun heats the ocean and water rises into the sky as "
            "vapor. Now let us look at baking bread."]


def _settings(server):
    return LLMSettings(base_url=server.base_url, api_key="k", model="primary-model",
                       fallback_model="fallback-model", max_attempts=2)


def test_lines_and_passages_come_back_in_german_and_are_cached(tmp_path):
    script = EditorScript(refuse_word=None, error_at=0, rate_limit_first=False)
    cache = LLMCache(tmp_path / "cache")
    with ScriptedOpenAI(script) as server:
        lines = translate(LINES, [], "en", "de", _settings(server), cache)
        # the first answer left a line out: asked again, never used short
        assert len(server.requests) == 2 and lines.requests == 2
        outcome = translate(LINES, PASSAGES, "en", "de", _settings(server), cache)
        assert len(server.requests) == 3 and (outcome.requests, outcome.reused) == (1, 1)
        again = translate(LINES, PASSAGES, "en", "de", _settings(server), cache)
        assert len(server.requests) == 3 and again.reused == 2  # every usable answer reused
    result = outcome.value
    assert result.lines == lines.value.lines == (
        "Willkommen zu dieser kurzen Lektion", "über die Wasser Kreislauf.",
        "Die Sonne erwärmt die Ozean und Wasser steigt", "in die Himmel als Dampf.")
    assert result.passages == ("## Die Wasser Kreislauf\n\nDie Sonne erwärmt die Ozean und "
                               "Wasser steigt in die Himmel als Dampf. Jetzt lass uns schauen "
                               "auf Backen Brot.",)
    assert again.value == result


def test_an_answer_in_the_wrong_language_is_an_error_not_a_result(tmp_path):
    """The scripted model answers French requests in English: refused on both models, and
    nothing is cached."""
    cache = LLMCache(tmp_path / "cache")
    with ScriptedOpenAI(EditorScript(refuse_word=None, error_at=0,
                                     rate_limit_first=False)) as server:
        with pytest.raises(Unusable, match=r"no usable answer after 4 tries; last: "
                                           r"fallback-model: it is in English \(en\), not French"):
            translate([], PASSAGES, "en", "fr", _settings(server), cache)
    assert not list((tmp_path / "cache").rglob("*.json"))


def test_a_translation_that_drops_content_is_refused(tmp_path):
    def short(request):
        return Reply("Die Sonne.")

    with ScriptedOpenAI(short) as server, pytest.raises(
            Unusable, match="it keeps 9% of the source's text: content was dropped"):
        translate([], PASSAGES, "en", "de", _settings(server), LLMCache(tmp_path / "c"))


def test_missing_lines_after_every_try_are_an_error(tmp_path):
    def one_line(request):
        return Reply("1. Willkommen zu dieser kurzen Lektion über die Wasser Kreislauf")

    with ScriptedOpenAI(one_line) as server, pytest.raises(
            Unusable, match="1 numbered lines for 4 \\(each line must be translated\\)"):
        translate(LINES, [], "en", "de", _settings(server), LLMCache(tmp_path / "c"))


def test_the_language_of_a_text():
    assert wrong_language("Der Wasserkreislauf beginnt im Meer, und die Sonne erwärmt ihn.",
                          "de") is None
    assert wrong_language("The water cycle begins in the sea, and the sun warms it.",
                          "de") == "it is in English (en), not German"
    assert wrong_language("Ja.", "de") is None  # too short to tell: not judged
