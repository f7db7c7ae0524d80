"""The one wrapper around an OpenAI-compatible chat endpoint (OpenAI, vLLM, Ollama, llama.cpp).

- bounded concurrency: an ``asyncio.Semaphore`` of ``LLMSettings.concurrency`` per client;
- retries with exponential backoff and jitter on 429, 5xx, timeouts and dropped connections,
  through tenacity (the openai client's own retries are turned off so there is one policy);
- unusable answers are never cached and never returned: an empty answer, a refusal
  ("I'm sorry, but I can't…"), or one the caller's ``check`` rejects (unrelated to its
  input, say). An empty or rejected answer is asked again once, then on ``fallback_model``;
  a refusal goes to ``fallback_model`` at once. When every try was unusable,
  :class:`Unusable` (:class:`Refused` when all were refusals) names the last cause;
- structured answers: a request may carry a JSON Schema (``response_format``). An endpoint
  that rejects the parameter raises :class:`FormatRejected` once, and is remembered (per
  process, and in the answer cache's folder) so that it is then asked in plain text.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from scribeflow.core.cache import LLMCache
from scribeflow.core.endpoints import LLMSettings, retry_policy
from scribeflow.core.errors import ConfigError, ScribeflowError

log = logging.getLogger(__name__)

_REFUSAL = re.compile(
    r"^\W*(i'?m sorry|i am sorry|sorry, but|i apologi[sz]e|i can(?:'|no)?t (help|assist|comply|"
    r"do that|provide|fulfil)|i'?m (unable|not able) to|i (won'?t|will not) be able to|"
    r"as an ai\b)",
    re.IGNORECASE,
)
#: Answers longer than this are content even if they open like a refusal.
MAX_REFUSAL_CHARS = 400
#: Tries of one model that gave an empty or rejected answer before the next model is asked.
TRIES_PER_MODEL = 2


class Unusable(ScribeflowError):
    """Every answer to the request was unusable (empty, a refusal, rejected by its check)."""


class Refused(Unusable):
    """Every model asked refused the request."""


class FormatRejected(ScribeflowError):
    """The endpoint does not take a JSON Schema for the answer (``response_format``)."""


#: Whether an endpoint takes ``response_format`` JSON Schemas: learned once, then remembered.
_SCHEMA_SUPPORT: dict[str, bool] = {}
_SCHEMA_MARKERS = ("response_format", "json_schema", "schema", "not supported", "unsupported",
                   "unrecognized", "unknown field", "extra inputs")


class LLMUnavailable(ScribeflowError):
    """The endpoint could not be reached or kept failing after retries."""


def is_refusal(text: str) -> bool:
    stripped = text.strip()
    return len(stripped) <= MAX_REFUSAL_CHARS and bool(_REFUSAL.match(stripped))


def unusable_cause(text: str, check: Callable[[str], str | None] | None = None) -> str | None:
    """Why ``text`` cannot be used as an answer, or None when it can."""
    if not text.strip():
        return "an empty answer"
    if is_refusal(text):
        return "a refusal"
    return check(text) if check is not None else None


@dataclass
class Usage:
    requests: int = 0
    retries: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    refusals: int = 0
    #: Answers thrown away as unusable (empty, refused, rejected by the check).
    unusable: int = 0
    cached: int = 0
    by_model: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Completion:
    text: str
    model: str
    #: True when the answer came from the cache (no request was made).
    cached: bool = False
    #: True when it was asked with a JSON Schema the endpoint accepted.
    structured: bool = False


class LLMClient:
    """Chat completions with bounded concurrency, retries and a refusal fallback.

    ``client`` may be injected (an ``openai.AsyncOpenAI``); by default one is built from
    ``settings``. With a ``cache``, answers are reused by prompt name, version, model and
    text. Create the client inside the event loop that uses it.
    """

    def __init__(self, settings: LLMSettings, client: Any | None = None,
                 cache: LLMCache | None = None):
        if not settings.configured:
            raise ConfigError("no LLM configured: set the openai_default connection or "
                              "OPENAI_BASE_URL/OPENAI_API_KEY and OPENAI_MODEL")
        import asyncio

        self.settings = settings
        self.cache = cache
        self.usage = Usage()
        self._semaphore = asyncio.Semaphore(max(1, settings.concurrency))
        self._probe = asyncio.Lock()  # one request at a time learns whether schemas work
        if client is None:
            import openai

            client = openai.AsyncOpenAI(
                base_url=settings.base_url, api_key=settings.api_key or "unused",
                timeout=settings.timeout_s, max_retries=0,
            )
        self._client = client

    @property
    def endpoint(self) -> str:
        return self.settings.base_url or "https://api.openai.com/v1"

    def takes_schemas(self) -> bool:
        """Whether to ask this endpoint with a JSON Schema: yes until it rejected one."""
        if self.endpoint not in _SCHEMA_SUPPORT and self.cache is not None:
            known = self.cache.endpoint_facts().get(self.endpoint, {})
            if "json_schema" in known:
                _SCHEMA_SUPPORT[self.endpoint] = bool(known["json_schema"])
        return _SCHEMA_SUPPORT.get(self.endpoint, True)

    def _learned(self, takes: bool) -> None:
        if _SCHEMA_SUPPORT.get(self.endpoint) == takes:
            return
        _SCHEMA_SUPPORT[self.endpoint] = takes
        if not takes:
            log.warning("%s does not take a JSON Schema for answers: asking in plain text "
                        "from now on", self.endpoint)
        if self.cache is not None:
            self.cache.learn_endpoint(self.endpoint, json_schema=takes)

    async def complete(self, prompt: str, *, cache_as: tuple[str, str] | None = None,
                       check: Callable[[str], str | None] | None = None,
                       response_format: dict[str, Any] | None = None,
                       readable: Callable[[str], bool] | None = None) -> Completion:
        """A usable answer to ``prompt``: not empty, not a refusal, and passed by ``check``
        (which returns why an answer is unusable, or None).

        ``cache_as=(prompt name, prompt version)`` reuses and stores usable answers in the
        cache; a cached answer that is unusable (written by an older version) is asked again.
        ``response_format`` (a JSON Schema) raises :class:`FormatRejected` when the endpoint
        rejects it; ask :meth:`takes_schemas` first. While that is not known, one request
        at a time finds out. Only answers that ``readable`` accepts are cached (the caller
        parses them; one it cannot read is returned, to be asked again, never stored).
        """
        if response_format is not None and self.takes_schemas() and \
                self.endpoint not in _SCHEMA_SUPPORT:
            async with self._probe:
                if self.endpoint not in _SCHEMA_SUPPORT:
                    return await self._complete(prompt, cache_as, check, response_format,
                                                readable)
        if response_format is not None and not self.takes_schemas():
            raise FormatRejected(f"{self.endpoint} does not take JSON Schemas")
        return await self._complete(prompt, cache_as, check, response_format, readable)

    async def _complete(self, prompt: str, cache_as: tuple[str, str] | None,
                        check: Callable[[str], str | None] | None,
                        response_format: dict[str, Any] | None,
                        readable: Callable[[str], bool] | None) -> Completion:
        structured = response_format is not None
        key = None
        if self.cache is not None and cache_as is not None:
            name, version = cache_as
            key = LLMCache.key(name, version + ("+schema" if structured else ""),
                               self.settings.model or "", prompt)
            hit = self.cache.get(key)
            if hit is not None and unusable_cause(hit.get("text", ""), check) is None and \
                    (readable is None or readable(hit.get("text", ""))):
                self.usage.cached += 1
                return Completion(text=hit["text"], model=hit["model"], cached=True,
                                  structured=structured)
            if hit is not None:
                log.warning("ignored an unusable cached answer (%s); asking again",
                            unusable_cause(hit.get("text", ""), check) or "it cannot be read")
        models = [self.settings.model] + (
            [self.settings.fallback_model] if self.settings.fallback_model else []
        )
        causes: list[str] = []
        for model in models:
            for _ in range(TRIES_PER_MODEL):
                text = await self._chat(model, prompt, response_format)
                if structured:
                    self._learned(True)
                cause = unusable_cause(text, check)
                if cause is None:
                    if key is not None and (readable is None or readable(text)):
                        self.cache.put(key, text, model)  # type: ignore[union-attr]
                    return Completion(text=text, model=model, structured=structured)
                self.usage.unusable += 1
                causes.append(f"{model}: {cause}")
                log.warning("unusable answer from %s (%s): %r", model, cause, text[:120])
                if cause == "a refusal":
                    self.usage.refusals += 1
                    break
        if all(c.endswith(": a refusal") for c in causes):
            raise Refused(f"refused by {', '.join(models)}")
        raise Unusable(f"no usable answer after {len(causes)} tries; last: {causes[-1]}")

    async def _chat(self, model: str, prompt: str,
                    response_format: dict[str, Any] | None = None) -> str:
        import openai
        from tenacity import RetryError

        def on_retry(exc: BaseException, attempt: int) -> None:
            self.usage.retries += 1
            log.info("LLM call retry %d after %s", attempt, type(exc).__name__)

        async with self._semaphore:
            try:
                async for attempt in retry_policy(self.settings.max_attempts, on_retry):
                    with attempt:
                        response = await self._client.chat.completions.create(
                            model=model,
                            messages=[{"role": "user", "content": prompt}],
                            temperature=self.settings.temperature,
                            **({"response_format": response_format} if response_format else {}),
                        )
            except RetryError as exc:
                cause = exc.last_attempt.exception()
                raise LLMUnavailable(
                    f"LLM at {self.settings.base_url or 'api.openai.com'} failed "
                    f"{self.settings.max_attempts} times: {type(cause).__name__}: {cause}"
                ) from None
            except openai.APIStatusError as exc:
                if response_format and _rejects_schema(exc):
                    self._learned(False)
                    raise FormatRejected(f"{self.endpoint} rejected response_format: "
                                         f"{exc.message}") from None
                raise LLMUnavailable(f"LLM request rejected ({exc.status_code}): {exc.message}") from None
        self.usage.requests += 1
        self.usage.by_model[model] = self.usage.by_model.get(model, 0) + 1
        if response.usage is not None:
            self.usage.prompt_tokens += response.usage.prompt_tokens or 0
            self.usage.completion_tokens += response.usage.completion_tokens or 0
        message = response.choices[0].message
        if getattr(message, "refusal", None):
            return f"I'm sorry, {message.refusal}"
        return message.content or ""

    async def aclose(self) -> None:
        close = getattr(self._client, "close", None)
        if close is not None:
            await close()


def _rejects_schema(exc: Any) -> bool:
    """A 400/422/501 that is about the answer format (servers word it in many ways)."""
    if exc.status_code not in (400, 422, 501):
        return False
    text = str(getattr(exc, "message", "") or exc).lower()
    return any(marker in text for marker in _SCHEMA_MARKERS)
