"""Language codes and names: whisper's 100 languages, and how their text is written."""

from __future__ import annotations

from typing import Any

from scribeflow.core.errors import ConfigError

#: Languages written without spaces between words: subtitles count their characters and
#: break lines between any two of them.
SPACELESS = ("zh", "yue", "ja", "th", "lo", "km", "my", "bo")

#: Each code's English name, as whisper's tokenizer names it (transformers'
#: ``tokenization_whisper.LANGUAGES``; a test keeps them equal). Written out here: importing
#: transformers for it took about 1 s of every run (bench/backlog_throughput.py).
NAMES = {
    "af": "afrikaans", "am": "amharic", "ar": "arabic", "as": "assamese", "az": "azerbaijani",
    "ba": "bashkir", "be": "belarusian", "bg": "bulgarian", "bn": "bengali", "bo": "tibetan",
    "br": "breton", "bs": "bosnian", "ca": "catalan", "cs": "czech", "cy": "welsh",
    "da": "danish", "de": "german", "el": "greek", "en": "english", "es": "spanish",
    "et": "estonian", "eu": "basque", "fa": "persian", "fi": "finnish", "fo": "faroese",
    "fr": "french", "gl": "galician", "gu": "gujarati", "ha": "hausa", "haw": "hawaiian",
    "he": "hebrew", "hi": "hindi", "hr": "croatian", "ht": "haitian creole", "hu": "hungarian",
    "hy": "armenian", "id": "indonesian", "is": "icelandic", "it": "italian", "ja": "japanese",
    "jw": "javanese", "ka": "georgian", "kk": "kazakh", "km": "khmer", "kn": "kannada",
    "ko": "korean", "la": "latin", "lb": "luxembourgish", "ln": "lingala", "lo": "lao",
    "lt": "lithuanian", "lv": "latvian", "mg": "malagasy", "mi": "maori", "mk": "macedonian",
    "ml": "malayalam", "mn": "mongolian", "mr": "marathi", "ms": "malay", "mt": "maltese",
    "my": "myanmar", "ne": "nepali", "nl": "dutch", "nn": "nynorsk", "no": "norwegian",
    "oc": "occitan", "pa": "punjabi", "pl": "polish", "ps": "pashto", "pt": "portuguese",
    "ro": "romanian", "ru": "russian", "sa": "sanskrit", "sd": "sindhi", "si": "sinhala",
    "sk": "slovak", "sl": "slovenian", "sn": "shona", "so": "somali", "sq": "albanian",
    "sr": "serbian", "su": "sundanese", "sv": "swedish", "sw": "swahili", "ta": "tamil",
    "te": "telugu", "tg": "tajik", "th": "thai", "tk": "turkmen", "tl": "tagalog",
    "tr": "turkish", "tt": "tatar", "uk": "ukrainian", "ur": "urdu", "uz": "uzbek",
    "vi": "vietnamese", "yi": "yiddish", "yo": "yoruba", "zh": "chinese", "yue": "cantonese",
}

#: Whisper's language codes (faster_whisper.tokenizer._LANGUAGE_CODES; a test keeps them
#: equal).
LANGUAGES = tuple(NAMES)


def language_name(code: str) -> str:
    """``de`` → ``German``; the code itself when no name is known."""
    return NAMES.get(code, code).title()


def language_code(heard: str | None) -> str | None:
    """A code from a code or an English name (``english`` → ``en``), as endpoints answer."""
    if not heard:
        return None
    heard = heard.strip().lower()
    if heard in LANGUAGES:
        return heard
    return {name: code for code, name in NAMES.items()}.get(heard, heard)


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
