"""Language codes and names: whisper's 100 languages, and how their text is written."""

from __future__ import annotations

import functools
from typing import Any

from scribeflow.core.errors import ConfigError

#: Whisper's language codes (faster_whisper.tokenizer._LANGUAGE_CODES; a test keeps them equal).
LANGUAGES = (
    "af", "am", "ar", "as", "az", "ba", "be", "bg", "bn", "bo", "br", "bs", "ca", "cs", "cy",
    "da", "de", "el", "en", "es", "et", "eu", "fa", "fi", "fo", "fr", "gl", "gu", "ha", "haw",
    "he", "hi", "hr", "ht", "hu", "hy", "id", "is", "it", "ja", "jw", "ka", "kk", "km", "kn",
    "ko", "la", "lb", "ln", "lo", "lt", "lv", "mg", "mi", "mk", "ml", "mn", "mr", "ms", "mt",
    "my", "ne", "nl", "nn", "no", "oc", "pa", "pl", "ps", "pt", "ro", "ru", "sa", "sd", "si",
    "sk", "sl", "sn", "so", "sq", "sr", "su", "sv", "sw", "ta", "te", "tg", "th", "tk", "tl",
    "tr", "tt", "uk", "ur", "uz", "vi", "yi", "yo", "zh", "yue",
)

#: Languages written without spaces between words: subtitles count their characters and
#: break lines between any two of them.
SPACELESS = ("zh", "yue", "ja", "th", "lo", "km", "my", "bo")


@functools.cache
def _names() -> dict[str, str]:
    try:  # whisper's own table (transformers comes with sentence-transformers)
        from transformers.models.whisper.tokenization_whisper import LANGUAGES as NAMES
    except ImportError:
        return {}
    return dict(NAMES)


def language_name(code: str) -> str:
    """``de`` → ``German``; the code itself when no name is known."""
    return _names().get(code, code).title()


def language_code(heard: str | None) -> str | None:
    """A code from a code or an English name (``english`` → ``en``), as endpoints answer."""
    if not heard:
        return None
    heard = heard.strip().lower()
    if heard in LANGUAGES:
        return heard
    return {name: code for code, name in _names().items()}.get(heard, heard)


def language_codes(value: Any, setting: str) -> tuple[str, ...]:
    """Language codes from a list or a string (``de,fr`` or ``de fr``), each known, in order,
    once; an unknown one is a :class:`ConfigError` naming ``setting``."""
    items = value.replace(",", " ").split() if isinstance(value, str) else list(value or ())
    codes = tuple(dict.fromkeys(str(code).strip().lower() for code in items if str(code).strip()))
    unknown = [code for code in codes if code not in LANGUAGES]
    if unknown:
        raise ConfigError(f"unknown language {unknown[0]!r} in {setting}: use whisper's codes "
                          f"({' '.join(LANGUAGES)})")
    return codes
