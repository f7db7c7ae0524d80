"""What every request to an OpenAI-compatible endpoint shares (chat in ``writing.llm``,
transcription in ``speech.endpoint``): which failures are worth asking again, and the one
retry policy."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


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


