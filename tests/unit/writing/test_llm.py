"""The LLM wrapper against a real local OpenAI-compatible server (the real openai client)."""

import asyncio

import pytest

from scribeflow.core.endpoints import LLMSettings
from scribeflow.core.errors import ConfigError
from scribeflow.writing.llm import LLMClient, LLMUnavailable, Refused, is_refusal
from support.openai_server import Reply, ScriptedOpenAI


def settings(server: ScriptedOpenAI, **kw) -> LLMSettings:
    return LLMSettings(base_url=server.base_url, api_key="k", model="main", **kw)


def complete(s: LLMSettings, prompt: str = "hi"):
    async def go():
        client = LLMClient(s)
        try:
            return await client.complete(prompt), client.usage
        finally:
            await client.aclose()

    return asyncio.run(go())


def test_retries_429_and_5xx_then_succeeds():
    answers = iter([Reply("slow down", 429), Reply("boom", 503), Reply("fine")])
    with ScriptedOpenAI(lambda r: next(answers)) as server:
        completion, usage = complete(settings(server))
    assert completion.text == "fine" and completion.model == "main"
    assert usage.retries == 2 and usage.requests == 1 and len(server.requests) == 3


def test_gives_up_after_max_attempts_with_a_clear_error():
    with ScriptedOpenAI(lambda r: Reply("down", 500)) as server:
        with pytest.raises(LLMUnavailable, match=r"failed 3 times: InternalServerError"):
            complete(settings(server, max_attempts=3))
        assert len(server.requests) == 3


def test_client_errors_are_not_retried():
    with ScriptedOpenAI(lambda r: Reply("bad model", 404)) as server:
        with pytest.raises(LLMUnavailable, match=r"rejected \(404\)"):
            complete(settings(server))
        assert len(server.requests) == 1


def test_refusal_goes_to_fallback_model():
    def answer(r):
        return Reply("I'm sorry, but I can't help with that.") if r.model == "main" else Reply("ok")

    with ScriptedOpenAI(answer) as server:
        completion, usage = complete(settings(server, fallback_model="backup"))
    assert completion.model == "backup" and usage.refusals == 1
    assert [r.model for r in server.requests] == ["main", "backup"]


def test_refusal_without_fallback_raises_refused():
    with ScriptedOpenAI(lambda r: Reply("I cannot assist with this request.")) as server:
        with pytest.raises(Refused, match="refused by main"):
            complete(settings(server))


def test_concurrency_is_bounded():
    import threading
    import time

    state = {"now": 0, "peak": 0}
    lock = threading.Lock()

    def answer(r):
        with lock:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
        time.sleep(0.05)
        with lock:
            state["now"] -= 1
        return Reply("x")

    async def go(s):
        client = LLMClient(s)
        await asyncio.gather(*(client.complete(str(i)) for i in range(12)))
        await client.aclose()

    with ScriptedOpenAI(answer) as server:
        asyncio.run(go(settings(server, concurrency=3)))
    assert state["peak"] == 3


def test_unconfigured_llm_is_a_config_error():
    with pytest.raises(ConfigError, match="no LLM configured"):
        LLMClient(LLMSettings())


@pytest.mark.parametrize(
    ("text", "refused"),
    [("I'm sorry, but I can't help with that.", True), ("As an AI, I cannot do that.", True),
     ("Sorry, but that is not something I can do.", True),
     ("I'm sorry to say the experiment failed. " * 20, False),
     ("The results were good.", False)],
)
def test_is_refusal(text, refused):
    assert is_refusal(text) is refused


def test_an_empty_answer_is_asked_again_and_not_cached(tmp_path):
    from scribeflow.core.cache import LLMCache

    answers = iter([Reply(""), Reply("  "), Reply("usable")])

    async def go(cache):
        client = LLMClient(LLMSettings(base_url=server.base_url, api_key="k", model="main",
                                       fallback_model="backup"), cache=cache)
        try:
            return await client.complete("p", cache_as=("stage", "1")), client.usage
        finally:
            await client.aclose()

    with ScriptedOpenAI(lambda r: next(answers)) as server:
        completion, usage = asyncio.run(go(LLMCache(tmp_path)))
        assert completion.text == "usable" and completion.model == "backup"
        assert usage.unusable == 2 and [r.model for r in server.requests] == ["main", "main",
                                                                              "backup"]
        again, usage = asyncio.run(go(LLMCache(tmp_path)))
        assert again.cached and again.text == "usable" and len(server.requests) == 3


def test_a_check_rejects_answers_and_the_last_cause_is_named():
    async def go():
        client = LLMClient(settings(server))
        try:
            return await client.complete("p", check=lambda t: "off topic" if "cats" in t
                                         else None)
        finally:
            await client.aclose()

    from scribeflow.writing.llm import Unusable

    with ScriptedOpenAI(lambda r: Reply("all about cats")) as server:
        with pytest.raises(Unusable, match="no usable answer after 2 tries; last: main: off "
                                           "topic"):
            asyncio.run(go())
