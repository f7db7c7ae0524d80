"""Errors that carry a one-line cause a person can act on."""


class ScribeflowError(Exception):
    """Base error. ``str(error)`` is a single line that names the cause."""

    def __init__(self, message: str):
        super().__init__(one_line(message))


class BadInputError(ScribeflowError):
    """The input cannot be processed as given; retrying will not help."""


class ConfigError(ScribeflowError):
    """A setting is missing or invalid."""


def one_line(message: object, limit: int = 300) -> str:
    """Collapse ``message`` to one line of at most ``limit`` characters."""
    text = " ".join(str(message).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
