"""Chapters, quiz and quality score against a real local LLM server with messy answers."""

from __future__ import annotations

from collections import Counter

import pytest

from scribeflow.core.cache import LLMCache
from scribeflow.core.endpoints import LLMSettings
from scribeflow.core.records import Segment, Word
from scribeflow.writing import llm
from scribeflow.writing.study import build_chapters, build_quiz, rate_quality
from support.openai_server import EditorScript, Reply, ScriptedOpenAI

CHUNKS = [
    {"index": 0, "start": 0.0, "end": 6.0,
     "text": "Welcome to this short lesson about the water cycle. The sun heats the ocean."},
    {"index": 1, "start": 6.0, "end": 12.0,
     "text": "Next we talk about volcanoes. Hot melted rock called magma pushes up."},
    {"index": 2, "start": 12.0, "end": 18.0,
     "text": "Now let us look at baking bread. You mix flour, water, salt and yeast."},
]


def settings(server) -> LLMSettings:
    return LLMSettings(base_url=server.base_url, api_key="k", model="m", concurrency=4)


SCHEMAS = ["json_schema", "reject", "ignore"]


def asked_with_schema(server) -> list[bool]:
    return [bool(r.body.get("response_format")) for r in server.requests]


@pytest.mark.parametrize("schemas", SCHEMAS)
def test_quiz_one_question_per_call_with_malformed_answers_retried(tmp_path, schemas):
    script = EditorScript(refuse_word=None, error_at=0, rate_limit_first=False)
    with ScriptedOpenAI(script, schemas=schemas) as server:
        outcome = build_quiz(CHUNKS, 3, settings(server), seed="vid", cache=LLMCache(tmp_path))
        quiz_prompts = [r for r in server.requests if "multiple-choice" in r.prompt]
        # the answers are JSON where the endpoint takes the schema, else the text format
        assert all(asked_with_schema(server)) == (schemas == "json_schema")
        # a server that ignores the schema gets the JSON prompt; one that rejects it, the text one
        assert all(('"options"' in r.prompt) == (schemas != "reject") for r in quiz_prompts)
        assert server.rejected_formats == (schemas == "reject")  # learned once
        assert all(r.prompt.count("<passage>") == 1 for r in quiz_prompts)
        retried = [r for r in quiz_prompts if "could not be read" in r.prompt]
        assert retried and len(quiz_prompts) == 9 + len(retried)
    questions = outcome.value
    assert len(questions) == 9 and [q.number for q in questions] == list(range(1, 10))
    assert max(Counter(q.answer for q in questions).values()) <= 3
    assert all(len(q.options) == 4 and q.chunk_index in (0, 1, 2) for q in questions)
    assert all("malformed" not in r for r in outcome.dropped)
    assert len(outcome.dropped) == len(retried)  # each reason logged, then asked again


def test_quiz_that_never_parses_is_dropped_not_guessed(tmp_path):
    with ScriptedOpenAI(lambda r: Reply("Here is a great question about rivers!")) as server:
        outcome = build_quiz(CHUNKS[:1], 2, settings(server), seed="v", cache=LLMCache(tmp_path))
        assert len(server.requests) == 2 * 3
    assert outcome.value == [] and len(outcome.dropped) == 6
    assert "expected options A-D, found none" in outcome.dropped[0]


@pytest.mark.parametrize("schemas", SCHEMAS)
def test_chapters_are_located_in_the_transcript(tmp_path, schemas):
    words = []
    t = 0.0
    for chunk in CHUNKS:
        for w in chunk["text"].split():
            words.append(Word(start=t, end=t + 0.8, word=" " + w, probability=1.0))
            t += 1.0
    segments = [Segment(id=0, start=0.0, end=t, text=" ".join(c["text"] for c in CHUNKS),
                        words=tuple(words))]
    script = EditorScript(refuse_word=None, error_at=0, rate_limit_first=False)
    with ScriptedOpenAI(script, schemas=schemas) as server:
        groups = [(" ".join(c["text"] for c in CHUNKS), 0.0, t)]
        outcome = build_chapters(groups, segments, settings(server), LLMCache(tmp_path))
    titles = [(c.title, c.start) for c in outcome.value]
    next_at = next(w.start for w in words if w.word.strip() == "Next")
    assert titles[0] == ("Introduction", 0.0)
    assert ("Volcanoes", next_at) in titles and titles[-1][0] == "Baking bread"


@pytest.mark.parametrize("schemas", SCHEMAS)
def test_quality_score_parsed_and_out_of_range_rejected(tmp_path, schemas):
    with ScriptedOpenAI(EditorScript(rate_limit_first=False, error_at=0), schemas=schemas) as server:
        assert rate_quality("raw text", "doc text", settings(server)).value == 87
        assert asked_with_schema(server)[-1] == (schemas == "json_schema")
    with ScriptedOpenAI(lambda r: Reply("Score: 140/100")) as server:
        outcome = rate_quality("raw", "doc", settings(server), attempts=2)
    assert outcome.value is None
    assert outcome.dropped == ["quality score, attempt 1: score 140 is outside 0-100",
                               "quality score, attempt 2: score 140 is outside 0-100"]


def test_empty_document_asks_nothing(tmp_path):
    with ScriptedOpenAI(lambda r: Reply("unused")) as server:
        outcome = build_quiz([{"index": 0, "start": 0, "end": 1, "text": "   "}], 2,
                             settings(server), seed="v", cache=LLMCache(tmp_path))
        chapters = build_chapters([], [], settings(server), LLMCache(tmp_path))
        assert server.requests == []
    assert outcome.value == [] and outcome.dropped == [] and chapters.value == []


def test_an_endpoint_that_rejects_schemas_is_learned_once_and_remembered(tmp_path, monkeypatch):
    script = EditorScript(refuse_word=None, error_at=0, rate_limit_first=False)
    with ScriptedOpenAI(script, schemas="reject") as server:
        one = LLMSettings(base_url=server.base_url, api_key="k", model="m", concurrency=1)
        assert rate_quality("raw", "doc", one, cache=LLMCache(tmp_path)).value == 87
        # the rejected request is not among the answered ones
        assert server.rejected_formats == 1 and asked_with_schema(server) == [False]
        # another task (another process: nothing in memory) reads it from the cache's folder
        monkeypatch.setattr(llm, "_SCHEMA_SUPPORT", {})
        outcome = build_quiz(CHUNKS[:1], 1, one, seed="v", cache=LLMCache(tmp_path))
        assert outcome.value and server.rejected_formats == 1
        assert not any(asked_with_schema(server))


@pytest.mark.parametrize(("answer", "cause"), [
    ('{"question": "Q?", "options": ["a", "b", "c"], "answer": "A", "explanation": "e"}',
     "answer does not fit the quiz_question schema: options: List should have at least 4 items"
     " after validation, not 3"),
    ('{"question": "Q?", "options": ["a", "b", "c", "d"], "answer": "E", "explanation": "e"}',
     "answer does not fit the quiz_question schema: answer: Input should be 'A', 'B', 'C' or 'D'"),
    ('{"question": "Q?", "options": ["a", "a", "c", "d"], "answer": "A", "explanation": "e"}',
     "two options have the same text"),
    ('{"question": "", "options": ["a", "b", "c", "d"], "answer": "A", "explanation": "e"}',
     "no question text"),
])
def test_a_structured_answer_that_does_not_fit_is_asked_again_then_dropped(tmp_path, answer, cause):
    with ScriptedOpenAI(lambda r: Reply(answer)) as server:
        outcome = build_quiz(CHUNKS[:1], 1, settings(server), seed="v", cache=LLMCache(tmp_path))
        assert len(server.requests) == 3 and all(asked_with_schema(server))
    assert outcome.value == [] and outcome.dropped[0].endswith(cause), outcome.dropped
    assert not list(tmp_path.glob("*/*.json"))  # no unreadable answer was cached
