"""Errors that carry a one-line cause a person can act on."""

import errno
import shutil
from pathlib import Path

#: How tools and libraries say the disk is full when they give no errno (ffmpeg, pyarrow).
_NO_SPACE = ("no space left on device", "disk quota exceeded")


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


class StorageFullError(ScribeflowError):
    """The data folder's disk (or quota) is full: nothing written is torn, and the run can be
    re-run once there is room. Retrying at once would fail the same way."""


def no_space(error: BaseException | str) -> bool:
    """Whether ``error`` (an exception, its chain, or a tool's message) means the disk is full."""
    seen: set[int] = set()
    while isinstance(error, BaseException) and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if any(marker in str(error).lower() for marker in _NO_SPACE):
            return True
        error = error.__cause__ or error.__context__
    return isinstance(error, str) and any(marker in error.lower() for marker in _NO_SPACE)


def storage_full(where: Path | str, doing: str) -> StorageFullError:
    """The one-line cause of a full disk under ``where`` while ``doing``."""
    folder = Path(where)
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        free = f"{shutil.disk_usage(folder).free / 1e6:.1f} MB free"
    except OSError:
        free = "free space unknown"
    return StorageFullError(
        f"no space left on the disk of {folder} ({free}) while {doing}; free space or point "
        f"SCRIBEFLOW_DATA at a larger disk, then run again (nothing stored was changed)")


def error_kind(error: BaseException) -> str:
    """``bad_input``, ``config``, ``blocked``, ``disk_full`` or ``error``: how a failure is
    recorded."""
    if isinstance(error, BlockedError):
        return "blocked"
    if isinstance(error, StorageFullError):
        return "disk_full"
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
