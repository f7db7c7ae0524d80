"""Answers with citations: real search over a real store (the session's embedding model),
a real local LLM server with scripted answers, good and bad."""

from __future__ import annotations

import json

import pytest

from scribeflow.core.config import PipelineSettings
from scribeflow.core.endpoints import LLMSettings
from scribeflow.core.errors import BadInputError, ConfigError
from scribeflow.core.records import SearchFilters
from scribeflow.library.ask import NOT_HELD, AnswerFailed, ask, budgeted
from scribeflow.pipeline.rows import upsert_video_rows
from scribeflow.writing.cited import CitedAnswer, parse_answer, uncited
from support.openai_server import EditorScript, Reply, ScriptedOpenAI
from support.videos import make_video

TEXTS = ["Jupiter is the largest planet in the solar system, a gas giant with many moons.",
         "Volcanoes erupt when magma rises through cracks in the crust of the earth.",
         "To bake bread you mix flour, water, salt and yeast, then knead the dough."]


@pytest.fixture(scope="module")
def library(tmp_path_factory, embedder):
    settings = PipelineSettings.from_env({"data_dir": tmp_path_factory.mktemp("ask") / "data"})
    upsert_video_rows(make_video(settings.data_dir, TEXTS, title="Science talk"), settings)
    return settings


def llm(server) -> LLMSettings:
    return LLMSettings(base_url=server.base_url, api_key="k", model="m", max_attempts=2)


@pytest.mark.parametrize("schemas", ["json_schema", "reject"])
def test_a_paraphrased_question_is_answered_from_the_right_passage(library, embedder, schemas):
    script = EditorScript(refuse_word=None, error_at=0, rate_limit_first=False)
    with ScriptedOpenAI(script, schemas=schemas) as server:
        answer = ask("Which planet is the biggest one among the planets?", library,
                     llm(server), embedder=embedder)
        prompt = server.requests[-1].prompt
    assert answer.found and answer.text.endswith("[1]") and len(answer.citations) == 1
    cited = answer.citations[0]
    assert cited.number == 1 and cited.title == "Science talk"
    assert "largest planet" in cited.text and "largest planet" in answer.text
    assert cited.start == 0.0 and cited.url == "file:///lesson.mp4#t=0"
    # the passages sent, best first, numbered as the answer cites them
    assert prompt.index("[1] Science talk (00:00): Jupiter") < prompt.index("Volcanoes")
    assert answer.passages >= 1 and answer.tokens > 0 and answer.llm_requests == 1


def test_citations_are_renumbered_in_the_order_the_answer_cites(library, embedder):
    reply = ("Magma rises through cracks in the crust [2]. Jupiter is the largest planet "
             "[1][2].")  # [2] of "Jupiter" shares none of its words, [1] does
    with ScriptedOpenAI(lambda r: Reply(reply)) as server:
        answer = ask("volcanoes and the largest planet", library, llm(server), embedder=embedder)
    first, second = answer.citations
    assert answer.text == ("Magma rises through cracks in the crust [1]. Jupiter is the largest "
                           "planet [2][1].")
    assert "magma" in first.text.lower() and "jupiter" in second.text.lower()


def test_an_unrelated_question_is_declined_without_asking_the_model(library, embedder):
    with ScriptedOpenAI(EditorScript(error_at=0, rate_limit_first=False)) as server:
        answer = ask("What did the central bank decide about interest rates?", library,
                     llm(server), embedder=embedder)
        assert answer.found is False and answer.text == NOT_HELD
        asked = len(server.requests)
        # asked of passages that do not hold it, the model says so: the same reply
        held = ask("How hot does lava get?", library, llm(server), embedder=embedder)
    assert asked == 0 and answer.citations == () and answer.passages == 0
    assert held.found is False and held.text == NOT_HELD and held.passages >= 1


def test_an_answer_that_cites_what_was_not_sent_or_nothing_fails_and_is_never_kept(
        library, embedder):
    for reply, cause in (("Jupiter is the largest planet [9].", "cites passage 9"),
                         ("Jupiter is the largest planet.", "cites no passage"),
                         ("Stocks rallied on Monday [1].", "say none of its words")):
        with ScriptedOpenAI(lambda r, reply=reply: Reply(reply)) as server, \
                pytest.raises(AnswerFailed, match=cause):
            ask("Which planet is the largest?", library, llm(server), embedder=embedder)
        assert len(server.requests) == 2  # asked again once, then it fails


def test_an_outage_is_one_line_and_bad_questions_are_refused(library, embedder):
    with ScriptedOpenAI(lambda r: Reply("down", status=503)) as server, \
            pytest.raises(AnswerFailed, match="^the LLM could not be reached"):
        ask("Which planet is the largest?", library, llm(server), embedder=embedder)
    with pytest.raises(BadInputError, match="^empty question"):
        ask("  ", library, LLMSettings(base_url="http://127.0.0.1:9", model="m"))
    with pytest.raises(BadInputError, match="filter date_from"):
        ask("planets", library, LLMSettings(base_url="http://127.0.0.1:9", model="m"),
            SearchFilters(date_from="last week"), embedder=embedder)
    with pytest.raises(ConfigError, match="^no LLM configured"):
        ask("planets", library, LLMSettings())


def test_the_token_budget_bounds_the_passages(library, embedder):
    settings = PipelineSettings.from_env({"data_dir": library.data_dir, "ask_tokens": 20})
    with ScriptedOpenAI(EditorScript(error_at=0, rate_limit_first=False)) as server:
        answer = ask("planets, volcanoes and bread", settings, llm(server), embedder=embedder)
        prompt = server.requests[-1].prompt
    # one passage is 15 word pieces, two are over 20
    assert answer.passages == 1 and answer.tokens == 15 and "\n[2] " not in prompt
    assert budgeted(["a", "b", "c"], [10, 10, 10], 25) == (["a", "b"], 20)


@pytest.mark.parametrize(("reply", "found", "text"), [
    ('{"found": false, "answer": ""}', False, ""),
    ("```json\n" + json.dumps({"found": True, "answer": "Big [1]."}) + "\n```", True, "Big [1]."),
    ("NOT IN LIBRARY", False, ""),
    ("The passages do not contain this information.", False, ""),
    ("Answer: Jupiter is big. [1]", True, "Jupiter is big. [1]"),
])
def test_answers_are_read(reply, found, text):
    assert parse_answer(reply) == CitedAnswer(found=found, text=text)


def test_a_citation_after_the_full_stop_belongs_to_its_sentence():
    answer = CitedAnswer(True, "Jupiter is big. [1] Magma rises. [2]")
    assert uncited(answer, ["Jupiter is the biggest planet.", "Magma rises up."]) is None
    assert "'Magma rises.' cites [1]" in uncited(
        CitedAnswer(True, "Jupiter is big. [1] Magma rises. [1]"),
        ["Jupiter is the biggest planet.", "Magma rises up."])
