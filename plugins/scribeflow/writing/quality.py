"""The quality score: an LLM rates 0-100 how well the document's start captures the raw
transcript's start while improving its writing. Parsed robustly; out-of-range is an error."""

from __future__ import annotations

import re

from scribeflow.core.errors import ScribeflowError


class ScoreParseError(ScribeflowError):
    """No score between 0 and 100 can be read from the answer with certainty."""


_OUT_OF = re.compile(r"(-?\d{1,4}(?:\.\d+)?)\s*(?:/\s*100|out\s+of\s+100|%)", re.IGNORECASE)
_LABELLED = re.compile(r"(?:score|rating|rate it|quality)\W{0,5}(?:is|of|:)?\W{0,5}(-?\d{1,4}(?:\.\d+)?)",
                       re.IGNORECASE)
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def parse_score(text: str) -> int:
    """A whole score 0-100 from answers like ``87``, ``Score: 87/100``, ``I'd rate it 87 out
    of 100.``; raises :class:`ScoreParseError` when absent, ambiguous or out of range."""
    text = (text or "").strip()
    found = _OUT_OF.findall(text) or _LABELLED.findall(text)
    if not found:
        numbers = _NUMBER.findall(text)
        if len(numbers) != 1:
            raise ScoreParseError(f"no single score in the answer {text[:80]!r}")
        found = numbers
    values = {float(v) for v in found}
    if len(values) != 1:
        raise ScoreParseError(f"several scores in the answer: {sorted(values)}")
    value = values.pop()
    if not 0 <= value <= 100:
        raise ScoreParseError(f"score {value:g} is outside 0-100")
    return round(value)
