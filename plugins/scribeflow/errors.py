"""Errors that carry a one-line cause a person can act on."""


class ScribeflowError(Exception):
    """Base error. ``str(error)`` is a single line that names the cause."""

    def __init__(self, message: str):
        super().__init__(one_line(message))


class BadInputError(ScribeflowError):
    """The input cannot be processed as given; retrying will not help."""


class ConfigError(ScribeflowError):
    """A setting is missing or invalid."""


class BlockedError(ScribeflowError):
    """A video site refused to serve us for now ("Sign in to confirm you're not a bot",
    HTTP 429): not bad input, and retrying at once makes it worse. The source backs off."""

    def __init__(self, message: str, site: str):
        super().__init__(message)
        self.site = site


def error_kind(error: BaseException) -> str:
    """``bad_input``, ``config``, ``blocked`` or ``error``: how a failure is recorded."""
    if isinstance(error, BlockedError):
        return "blocked"
    if isinstance(error, BadInputError):
        return "bad_input"
    if isinstance(error, ConfigError):
        return "config"
    return "error"


def one_line(message: object, limit: int = 300) -> str:
    """Collapse ``message`` to one line of at most ``limit`` characters."""
    text = " ".join(str(message).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def describe(error: BaseException) -> str:
    """A failure's one-line cause: our own errors as they read, others with their type."""
    text = str(error) if isinstance(error, ScribeflowError) else f"{type(error).__name__}: {error}"
    return one_line(text)
