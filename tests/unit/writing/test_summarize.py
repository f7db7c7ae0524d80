"""Summaries: the readers of the model's answers, key moments located in the speech, and the
whole stage against a real local LLM server (good, unrelated, empty and failing answers)."""

from __future__ import annotations

import json

import pytest

from scribeflow.core.cache import LLMCache
from scribeflow.core.endpoints import LLMSettings
from scribeflow.core.records import Segment, Word
from scribeflow.writing.study import build_summary
from scribeflow.writing.summarize import (
    Proposal,
    SummaryParseError,
    VideoSummary,
    key_moments,
    parse_summary,
    read_summary,
    unrelated,
)
from support.openai_server import EditorScript, Reply, ScriptedOpenAI

SAID = ["Welcome to this short lesson about the water cycle.",
        "The sun heats the ocean and water rises as vapor.",
        "Next we talk about volcanoes and hot melted rock.",
        "Magma pushes up through cracks in the crust.",
        "Finally we bake bread with flour, water and yeast."]


def segments() -> list[Segment]:
    """One segment per sentence, 5 s each, a word every 0.4 s."""
    out = []
    for n, sentence in enumerate(SAID):
        start = 5.0 * n
        words = [Word(start=round(start + 0.4 * k, 2), end=round(start + 0.4 * k + 0.3, 2),
                      word=" " + w) for k, w in enumerate(sentence.split())]
        out.append(Segment(id=n, start=start, end=start + 5.0, text=sentence, words=words))
    return out


TRANSCRIPT = " ".join(SAID)


def settings(server) -> LLMSettings:
    return LLMSettings(base_url=server.base_url, api_key="k", model="m", max_attempts=2)


@pytest.mark.parametrize("answer", [
    json.dumps({"abstract": "A lesson on water. Then volcanoes.",
                "key_points": [{"point": "Vapor rises.", "quote": SAID[1]}]}),
    "Here you go:\n```json\n" + json.dumps({"Summary": "A lesson on water.", "Key_Moments": [
        {"text": "Vapor rises.", "quote": SAID[1]}]}) + "\n```",
    f'Abstract: A lesson on water.\nThen volcanoes.\n\nKey points:\n- **Vapor rises.** | "{SAID[1]}"',
    f"Summary: A lesson on water. Then volcanoes.\n1. [00:05] Vapor rises. — quote: {SAID[1]}",
])
def test_answers_in_every_shape_are_read(answer):
    proposal = parse_summary(answer)
    assert proposal.abstract.startswith("A lesson on water.")
    assert proposal.points == (("Vapor rises.", SAID[1]),)


@pytest.mark.parametrize(("answer", "cause"), [
    ("", "no abstract"),
    ("I'm not able to summarise this.", "no abstract"),
    ('{"abstract": "", "key_points": []}', "no abstract"),
    ('{"abstract": "Water.", "key_points": []}', "no key point"),
    (json.dumps({"abstract": "One. Two. Three. Four. Five.",
                 "key_points": [{"point": "p", "quote": "q"}]}), "5 sentences"),
    (json.dumps({"abstract": "Water.", "key_points": [{"point": "p", "quote": "q"}] * 11}),
     "11 key points"),
    ('{"title": "Water"}', "without an abstract"),
])
def test_answers_that_are_not_summaries_are_errors(answer, cause):
    with pytest.raises(SummaryParseError, match=cause):
        parse_summary(answer)


def test_key_moments_are_where_their_quotes_were_spoken():
    proposal = Proposal("A lesson.", (
        ("Volcanoes.", "next we talk about volcanoes and hot melted rock"),  # case, no stop
        ("Water.", SAID[0]),
        ("Invented.", "The moon is made of cheese and sings at night."),
        ("Water again.", "Welcome to this short lesson about the water cycle")))
    moments, dropped = key_moments(proposal, segments())
    assert [(m.point, m.start) for m in moments] == [("Water.", 0.0), ("Volcanoes.", 10.0)]
    assert any("'Invented.'" in r and "not in the transcript" in r for r in dropped)
    assert any("'Water again.'" in r and "same moment" in r for r in dropped)
    # a quote after the end of what the summary covers is not found
    assert key_moments(proposal, segments(), end=8.0)[0][-1].point == "Water."


def test_an_answer_about_something_else_is_unrelated():
    off_topic = Proposal("Stock markets rallied as investors cheered quarterly earnings "
                         "reports from technology companies.",
                         tuple((f"p{n}", s) for n, s in enumerate(SAID[:3])))
    assert "shares 0% of its words" in unrelated(off_topic, TRANSCRIPT, segments())
    invented = Proposal("A lesson about water.", (("p", "Stocks rallied on Monday."),))
    assert "0 of its 1 key points" in unrelated(invented, TRANSCRIPT, segments())
    good = Proposal("A lesson about the water cycle and volcanoes.",
                    tuple((f"p{n}", s) for n, s in enumerate(SAID[:3])))
    assert unrelated(good, TRANSCRIPT, segments()) is None


@pytest.mark.parametrize("schemas", ["json_schema", "reject"])
def test_a_summary_from_the_scripted_server(tmp_path, schemas):
    script = EditorScript(refuse_word=None, error_at=0, rate_limit_first=False)
    with ScriptedOpenAI(script, schemas=schemas) as server:
        outcome = build_summary(TRANSCRIPT, segments(), settings(server), LLMCache(tmp_path))
        again = build_summary(TRANSCRIPT, segments(), settings(server), LLMCache(tmp_path))
        assert len(server.requests) == 1  # the second is cached
        assert server.rejected_formats == (schemas == "reject")
    abstract, moments = outcome.value
    assert abstract.startswith("The talk opens: Welcome to this short lesson")
    # every sentence is a key point, each at the second its first word was spoken
    assert [m.start for m in moments] == [0.0, 5.0, 10.0, 15.0, 20.0]
    assert [m.quote for m in moments] == SAID
    assert again.value == outcome.value and again.reused == 1


def test_an_unrelated_answer_is_asked_again_then_fails_and_is_never_cached(tmp_path):
    off_topic = json.dumps({"abstract": "Stock markets rallied as investors cheered "
                                        "quarterly earnings from technology companies.",
                            "key_points": [{"point": "Markets rose.",
                                            "quote": "The index closed higher on Monday."}]})
    with ScriptedOpenAI(lambda r: Reply(off_topic)) as server:
        outcome = build_summary(TRANSCRIPT, segments(), settings(server), LLMCache(tmp_path))
        assert len(server.requests) == 2  # the client's tries for one model
    assert outcome.value is None
    assert "0 of its 1 key points are in the transcript" in outcome.dropped[-1]
    assert not [p for p in tmp_path.rglob("*.json") if p.name != "endpoints.json"]  # no answer


def test_an_empty_answer_fails_and_an_outage_raises(tmp_path):
    from scribeflow.writing.llm import LLMUnavailable

    with ScriptedOpenAI(lambda r: Reply("")) as server:
        outcome = build_summary(TRANSCRIPT, segments(), settings(server), LLMCache(tmp_path))
    assert outcome.value is None and "an empty answer" in outcome.dropped[-1]
    with ScriptedOpenAI(lambda r: Reply("upstream down", status=503)) as server, \
            pytest.raises(LLMUnavailable):
        build_summary(TRANSCRIPT, segments(), settings(server), LLMCache(tmp_path))
    assert not [p for p in tmp_path.rglob("*.json") if p.name != "endpoints.json"]


def test_summary_file_round_trip_and_old_videos(tmp_path):
    assert read_summary(tmp_path / "summary.json").skipped.startswith("not made")
    path = tmp_path / "summary.json"
    path.write_text(json.dumps(VideoSummary(failed="the LLM could not be reached",
                                            duration_s=30.0).to_dict()))
    summary = read_summary(path)
    assert not summary.ok and summary.missing == "failed: the LLM could not be reached"
