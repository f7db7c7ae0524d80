"""The document stages over a group of chunks, against a real local LLM server."""

import pytest

from scribeflow.core.endpoints import LLMSettings
from scribeflow.core.records import Chunk
from scribeflow.writing.document import LLMStageFailed, assemble_document, process_group
from support.openai_server import EditorScript, Reply, ScriptedOpenAI, stage_of, tagged

CHUNKS = [
    Chunk(index=4, start=40, end=50, text="so um the magma rises up through the crust"),
    Chunk(index=5, start=50, end=60, text="and then you knead the dough with flour"),
    Chunk(index=6, start=60, end=70, text="jupiter is the largest planet it has a red storm"),
]
PREVIOUS = {4: "before four", 5: CHUNKS[0].text, 6: CHUNKS[1].text}


def test_stages_run_in_order_with_preambles_removed_and_refusal_fallback():
    script = EditorScript(refuse_word="magma", error_at=0)
    with ScriptedOpenAI(script) as server:
        settings = LLMSettings(base_url=server.base_url, api_key="k", model="primary-model",
                               fallback_model="fallback-model", concurrency=4)
        result = process_group(CHUNKS, PREVIOUS, settings, "en")
    assert result.llm_used and [c.index for c in result.chunks] == [4, 5, 6]
    for chunk in result.chunks:
        assert [s["stage"] for s in chunk.stages] == ["polish_sentences", "format_markdown",
                                                     "cleanup_markdown"]
        assert chunk.text.startswith("## ")
        assert "Certainly" not in chunk.text and "Let me know" not in chunk.text
    assert result.chunks[0].stages[2]["model"] == "fallback-model"
    assert "So um the magma rises up through the crust." in result.chunks[0].text
    assert result.removed_pct > 0 and script.preambles_sent > 0
    polish = [r for r in server.requests if stage_of(r.prompt) == "polish_sentences"]
    contexts = {tagged(r.prompt, "transcript"): tagged(r.prompt, "previous") for r in polish}
    assert contexts[CHUNKS[1].text] == CHUNKS[0].text
    assert contexts[CHUNKS[0].text] == "before four"


def refuse_magma(r):
    text = tagged(r.prompt, "transcript") or tagged(r.prompt, "text")
    if "magma" in text:
        return Reply("I'm sorry, but I can't help with that.")
    return Reply(text.upper())


def test_a_refusal_without_fallback_fails_naming_the_chunk_and_stage():
    with ScriptedOpenAI(refuse_magma) as server:
        settings = LLMSettings(base_url=server.base_url, api_key="k", model="m")
        with pytest.raises(LLMStageFailed) as info:
            process_group(CHUNKS[:2], {}, settings, "en")
    assert str(info.value) == ("chunk 4 (00:00:40-00:00:50) polish_sentences: refused by m")


def test_allow_degraded_keeps_the_input_and_says_so():
    with ScriptedOpenAI(refuse_magma) as server:
        settings = LLMSettings(base_url=server.base_url, api_key="k", model="m")
        result = process_group(CHUNKS[:2], {}, settings, "en", allow_degraded=True)
    assert result.chunks[0].text == CHUNKS[0].text and len(result.chunks[0].degraded) == 3
    assert result.chunks[0].degraded[0].startswith("chunk 4 (00:00:40-00:00:50) "
                                                   "polish_sentences: refused by m")
    assert result.chunks[1].text == CHUNKS[1].text.upper() and result.chunks[1].degraded == []


@pytest.mark.parametrize(("answer", "cause"), [
    ("Short.", "the answer kept 6 of 42 characters (content was dropped)"),
    ("", "an empty answer"),
    ("Task: rewrite raw speech into complete sentences. Keep every fact and the speaker's "
     "voice; output only the text.", "keeps 0% of its input's content words"),
    ("Paris is the capital of France and has many museums along the river Seine.",
     "keeps 0% of its input's content words"),
])
def test_an_unusable_answer_is_retried_never_cached_then_fails(tmp_path, answer, cause):
    from scribeflow.core.cache import LLMCache

    with ScriptedOpenAI(lambda r: Reply(answer)) as server:
        settings = LLMSettings(base_url=server.base_url, api_key="k", model="m",
                               fallback_model="f")
        with pytest.raises(LLMStageFailed) as info:
            process_group(CHUNKS[:1], {}, settings, "en", cache=LLMCache(tmp_path))
    message = str(info.value)
    assert message.startswith("chunk 4 (00:00:40-00:00:50) polish_sentences: no usable answer "
                              "after 4 tries; last: f: ") and cause in message, message
    assert [r.model for r in server.requests] == ["m", "m", "f", "f"]
    assert list(tmp_path.rglob("*.json")) == []


def test_a_poisoned_cache_entry_is_asked_again(tmp_path):
    from scribeflow.core.cache import LLMCache
    from scribeflow.writing.prompts import load_prompt

    cache = LLMCache(tmp_path)
    script = EditorScript(refuse_word=None, error_at=0, rate_limit_first=False)
    with ScriptedOpenAI(script) as server:
        settings = LLMSettings(base_url=server.base_url, api_key="k", model="m")
        first = process_group(CHUNKS[:1], {}, settings, "en", cache=cache)
        for path in tmp_path.rglob("*.json"):  # what an outage used to leave behind
            path.write_text('{"text": "", "model": "m"}')
        again = process_group(CHUNKS[:1], {}, settings, "en", cache=LLMCache(tmp_path))
    assert len(server.requests) == 6 and again.usage.cached == 0
    assert again.chunks[0].text == first.chunks[0].text
    assert load_prompt("polish_sentences").version


def test_preamble_removed_is_a_share_of_the_answers():
    def wrap(text):
        return ("Certainly! Here's a refined version of the text:\n\n" + text
                + "\n\nLet me know if you need any further changes!")

    def chatty(r):
        return Reply(wrap(tagged(r.prompt, "transcript") or tagged(r.prompt, "text")))

    short = [Chunk(index=0, start=0, end=2, text="magma rises up here now")]
    with ScriptedOpenAI(chatty) as server:
        settings = LLMSettings(base_url=server.base_url, api_key="k", model="m")
        result = process_group(short, {}, settings, "en")
    assert result.chunks[0].text == "magma rises up here now"
    # each answer is 119 characters, 96 of them chatter: 80.67 % (it used to say 1,252 %,
    # 3 x 96 removed characters against the 23 of the raw chunk)
    answer = len(wrap("magma rises up here now"))
    assert result.removed_pct == round(100 * (answer - 23) / answer, 2) == 80.67


def test_no_llm_keeps_raw_text_and_sends_nothing():
    result = process_group(CHUNKS, {}, LLMSettings(), "en")
    assert not result.llm_used and [c.text for c in result.chunks] == [c.text for c in CHUNKS]


def test_assemble_orders_by_index():
    doc = assemble_document("Talk", [(2, "third"), (0, "first"), (1, "second"), (3, "  ")])
    assert doc == "# Talk\n\nfirst\n\nsecond\n\nthird\n"


def test_answers_are_reused_by_prompt_input_and_model(tmp_path):
    from scribeflow.core.cache import LLMCache

    script = EditorScript(refuse_word=None, error_at=0, rate_limit_first=False)
    with ScriptedOpenAI(script) as server:
        settings = LLMSettings(base_url=server.base_url, api_key="k", model="m1")
        first = process_group(CHUNKS, PREVIOUS, settings, "en", cache=LLMCache(tmp_path))
        assert len(server.requests) == 9 and first.usage.cached == 0
        again = process_group(CHUNKS, PREVIOUS, settings, "en", cache=LLMCache(tmp_path))
        assert len(server.requests) == 9 and again.usage.cached == 9
        assert [c.text for c in again.chunks] == [c.text for c in first.chunks]
        changed = [CHUNKS[0], Chunk(index=5, start=50, end=60, text="a different chunk text")]
        process_group(changed, PREVIOUS, settings, "en", cache=LLMCache(tmp_path))
        assert len(server.requests) == 9 + 3  # only the changed chunk's three stages
        other = LLMSettings(base_url=server.base_url, api_key="k", model="m2")
        process_group(CHUNKS[:1], PREVIOUS, other, "en", cache=LLMCache(tmp_path))
        assert len(server.requests) == 12 + 3  # another model is another answer
