"""What every request to an OpenAI-compatible endpoint shares (chat in ``writing.llm``,
transcription in ``speech.endpoint``): where and how to call it (:class:`LLMSettings`,
:class:`TranscriptionSettings`, from the environment or a connection's fields), which
failures are worth asking again, and the one retry policy."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from scribeflow.core.errors import ConfigError
from scribeflow.core.typed import coerce


def retryable(exc: BaseException) -> bool:
    """429, 5xx, timeouts and dropped connections: worth asking again."""
    import openai

    if isinstance(exc, openai.APIStatusError):
        return exc.status_code == 429 or exc.status_code >= 500
    return isinstance(exc, openai.APIConnectionError | openai.APITimeoutError)


def retry_policy(max_attempts: int, on_retry: Callable[[BaseException, int], None]) -> Any:
    """The one retry policy of every request to an OpenAI-compatible endpoint (chat and
    transcription): exponential backoff with jitter on :func:`retryable` failures, at most
    ``max_attempts`` tries; ``on_retry(exception, attempt)`` before each wait."""
    from tenacity import (
        AsyncRetrying,
        retry_if_exception,
        stop_after_attempt,
        wait_random_exponential,
    )

    return AsyncRetrying(
        retry=retry_if_exception(retryable),
        wait=wait_random_exponential(multiplier=0.5, max=30),
        stop=stop_after_attempt(max_attempts),
        before_sleep=lambda state: on_retry(state.outcome.exception(), state.attempt_number),
        reraise=False,
    )


@dataclass(frozen=True)
class LLMSettings:
    """Where and how to call an OpenAI-compatible chat endpoint."""

    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    model: str | None = None
    #: Model used when the main one refuses a chunk.
    fallback_model: str | None = None
    #: Requests in flight at once within one task.
    concurrency: int = 8
    timeout_s: float = 120.0
    max_attempts: int = 6
    temperature: float = 0.2

    def __post_init__(self) -> None:
        if self.model and not (self.base_url or self.api_key):
            raise ConfigError(f"LLM partly configured: model {self.model!r} but no endpoint or API "
                              "key: set OPENAI_BASE_URL (vLLM, Ollama, llama.cpp) or "
                              "OPENAI_API_KEY (OpenAI), or the openai_default connection")
        if not self.model and (self.base_url or self.api_key):
            given = "an endpoint" if self.base_url else "an API key"
            raise ConfigError(f"LLM partly configured: {given} but no model: set OPENAI_MODEL, or "
                              "the openai_default connection's extra {\"model\": ...}")
        for name in ("concurrency", "max_attempts"):
            if getattr(self, name) < 1:
                raise ConfigError(f"LLM {name} must be at least 1, not {getattr(self, name)}")

    @property
    def configured(self) -> bool:
        return bool(self.model and (self.base_url or self.api_key))

    @classmethod
    def from_env(cls, **overrides: Any) -> LLMSettings:
        """From ``OPENAI_BASE_URL``, ``OPENAI_API_KEY``, ``OPENAI_MODEL`` and ``SCRIBEFLOW_LLM_*``."""
        env = os.environ
        values: dict[str, Any] = {
            "base_url": env.get("OPENAI_BASE_URL") or None,
            "api_key": env.get("OPENAI_API_KEY") or None,
            "model": env.get("OPENAI_MODEL") or env.get("SCRIBEFLOW_LLM_MODEL") or None,
            "fallback_model": env.get("SCRIBEFLOW_LLM_FALLBACK_MODEL") or None,
        }
        by_name = {f.name: f for f in fields(cls)}
        for name in ("concurrency", "timeout_s", "max_attempts"):
            env_name = f"SCRIBEFLOW_LLM_{name.upper()}"
            if raw := env.get(env_name):
                values[name] = coerce(by_name[name], raw, env_name)
        values.update({k: coerce(by_name[k], v, f"the connection's {k}")
                       for k, v in overrides.items() if v not in (None, "")})
        return cls(**values)


@dataclass(frozen=True)
class TranscriptionSettings:
    """Where and how to call an OpenAI-compatible transcription endpoint
    (``/v1/audio/transcriptions``: OpenAI's hosted models, or servers speaking the same API)."""

    #: The endpoint (``http://whisper:8000/v1``); None for OpenAI.
    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    model: str = "whisper-1"
    #: The endpoint's upload limit: longer audio is sent in pieces cut at silences (MB).
    max_upload_mb: float = 25.0
    #: Pieces in flight at once.
    concurrency: int = 4
    timeout_s: float = 600.0
    max_attempts: int = 6

    def __post_init__(self) -> None:
        if self.max_upload_mb < 0.1:
            raise ConfigError(f"transcription max_upload_mb must be at least 0.1, "
                              f"not {self.max_upload_mb}")
        for name in ("concurrency", "max_attempts"):
            if getattr(self, name) < 1:
                raise ConfigError(f"transcription {name} must be at least 1, "
                                  f"not {getattr(self, name)}")

    @property
    def configured(self) -> bool:
        return bool(self.base_url or self.api_key)

    @property
    def endpoint(self) -> str:
        return self.base_url or "https://api.openai.com/v1"

    @classmethod
    def from_env(cls, **overrides: Any) -> TranscriptionSettings:
        """From ``SCRIBEFLOW_TRANSCRIPTION_{BASE_URL,API_KEY,MODEL,MAX_UPLOAD_MB,…}``; the
        key falls back to ``OPENAI_API_KEY`` (OpenAI's hosted models)."""
        env = os.environ
        by_name = {f.name: f for f in fields(cls)}
        values: dict[str, Any] = {
            "base_url": env.get("SCRIBEFLOW_TRANSCRIPTION_BASE_URL") or None,
            "api_key": env.get("SCRIBEFLOW_TRANSCRIPTION_API_KEY") or env.get("OPENAI_API_KEY")
            or None,
        }
        for name in ("model", "max_upload_mb", "concurrency", "timeout_s", "max_attempts"):
            env_name = f"SCRIBEFLOW_TRANSCRIPTION_{name.upper()}"
            if raw := env.get(env_name):
                values[name] = coerce(by_name[name], raw, env_name)
        values.update({k: coerce(by_name[k], v, f"the transcription connection's {k}")
                       for k, v in overrides.items() if v not in (None, "")})
        return cls(**values)


def transcription_settings_from_connection(host: str | None, password: str | None,
                                           extra: Mapping[str, Any], schema: str | None = None,
                                           port: int | None = None) -> TranscriptionSettings:
    """The ``openai_transcription`` connection's fields as settings: host = base URL (as
    for the LLM connection), password = API key, extra = ``{"model", "max_upload_mb",
    "concurrency", "timeout_s", "max_attempts"}``."""
    keys = ("model", "max_upload_mb", "concurrency", "timeout_s", "max_attempts")
    return TranscriptionSettings.from_env(base_url=_base_url(host, schema, port),
                                          api_key=password or None,
                                          **{k: extra[k] for k in keys if k in extra})



def llm_settings_from_connection(host: str | None, password: str | None,
                                 extra: Mapping[str, Any], schema: str | None = None,
                                 port: int | None = None) -> LLMSettings:
    """The ``openai_default`` connection's fields as settings: host = base URL (given a
    scheme from ``schema``, default https, when it has none), password = API key, extra =
    ``{"model", "fallback_model", "concurrency", "timeout_s", "max_attempts"}``."""
    return LLMSettings.from_env(
        base_url=_base_url(host, schema, port), api_key=password or None, model=extra.get("model"),
        fallback_model=extra.get("fallback_model"),
        **{k: extra[k] for k in ("concurrency", "timeout_s", "max_attempts") if k in extra})


def _base_url(host: str | None, schema: str | None, port: int | None) -> str | None:
    """A connection's host as a URL: given a scheme from ``schema`` (https by default) and
    its port, when it has no scheme of its own."""
    if host and "://" not in host:
        return f"{schema or 'https'}://{host}{f':{port}' if port else ''}"
    return host or None
