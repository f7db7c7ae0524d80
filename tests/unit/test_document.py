"""The document stages over a group of chunks, against a real local LLM server."""

from scribeflow.config import LLMSettings
from scribeflow.document import assemble_document, process_group
from scribeflow.records import Chunk
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


def test_refusal_without_fallback_keeps_the_input_with_a_warning():
    def answer(r):
        text = tagged(r.prompt, "transcript") or tagged(r.prompt, "text")
        if "magma" in text:
            return Reply("I'm sorry, but I can't help with that.")
        return Reply(text.upper())

    with ScriptedOpenAI(answer) as server:
        settings = LLMSettings(base_url=server.base_url, api_key="k", model="m")
        result = process_group(CHUNKS[:2], {}, settings, "en")
    assert result.chunks[0].text == CHUNKS[0].text
    assert len(result.chunks[0].warnings) == 3 and "refused by m" in result.chunks[0].warnings[0]
    assert result.chunks[1].text == CHUNKS[1].text.upper()


def test_answer_that_drops_content_is_not_used():
    with ScriptedOpenAI(lambda r: Reply("Short.")) as server:
        settings = LLMSettings(base_url=server.base_url, api_key="k", model="m")
        result = process_group(CHUNKS[:1], {}, settings, "en")
    assert result.chunks[0].text == CHUNKS[0].text
    assert "answer kept 6 of" in result.chunks[0].warnings[0]


def test_no_llm_keeps_raw_text_and_sends_nothing():
    result = process_group(CHUNKS, {}, LLMSettings(), "en")
    assert not result.llm_used and [c.text for c in result.chunks] == [c.text for c in CHUNKS]


def test_assemble_orders_by_index():
    doc = assemble_document("Talk", [(2, "third"), (0, "first"), (1, "second"), (3, "  ")])
    assert doc == "# Talk\n\nfirst\n\nsecond\n\nthird\n"


def test_answers_are_reused_by_prompt_input_and_model(tmp_path):
    from scribeflow.cache import LLMCache

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
