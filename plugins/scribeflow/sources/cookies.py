"""Cookies for video sites: a secret, so it lives only in a private temporary file while a
request needs it, and its content never reaches a log, a summary or an artifact."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from scribeflow.core.errors import ConfigError


def check_cookies(text: str, label: str) -> None:
    """Raise :class:`ConfigError` unless ``text`` is a Netscape cookies file (the format
    yt-dlp reads); the message names ``label``, never the content."""
    rows = [line for line in text.splitlines() if line.strip() and not line.startswith("#")
            or line.startswith("#HttpOnly_")]
    if not rows or any(len(line.split("\t")) != 7 for line in rows):
        raise ConfigError(f"{label} does not hold a Netscape cookies file (seven tab-separated "
                          "fields a line, as browser extensions and yt-dlp export); its "
                          "content is not shown")


@contextmanager
def cookie_file(text: str | None, label: str = "the cookies") -> Iterator[Path | None]:
    """``text`` as a file readable by this user alone, removed on exit; None without text."""
    if not text:
        yield None
        return
    check_cookies(text, label)
    with tempfile.TemporaryDirectory(prefix="scribeflow-cookies-") as folder:
        path = Path(folder) / "cookies.txt"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text if text.startswith("# ") else "# Netscape HTTP Cookie File\n" + text)
        yield path
