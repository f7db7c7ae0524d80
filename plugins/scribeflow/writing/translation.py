"""Translation by the LLM: subtitle lines (their cues' times kept) and document passages.

Every answer is checked before it is used or cached: a line answer must give each numbered
line, none empty; a passage must keep about as much text as its source (measured in
characters, a character of a language written without spaces counted as three); and where
there is enough text to tell, the answer must be in the target language (py3langid, an
offline classifier of 97 languages). An answer that fails is asked again, then of the
fallback model, and the translation fails with the last cause: never a result.
"""

from __future__ import annotations

import asyncio
import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from scribeflow.core.cache import LLMCache
from scribeflow.core.endpoints import LLMSettings
from scribeflow.core.languages import SPACELESS, language_name
from scribeflow.writing.llm import LLMClient
from scribeflow.writing.preamble import filter_preamble
from scribeflow.writing.prompts import load_prompt
from scribeflow.writing.study import Outcome, run_llm_work

#: Subtitle lines per request.
LINES_PER_REQUEST = 40
#: A translation keeps between these multiples of its source's (weighted) characters.
MIN_LENGTH_RATIO = 0.45
MAX_LENGTH_RATIO = 2.6
#: Fewer letters than this cannot be told apart by language reliably.
MIN_CHARS_TO_IDENTIFY = 40
#: The target must be among the classifier's best few (related languages sound alike to it).
LANGUAGE_RANKS = 3
_NUMBERED = re.compile(r"^\s*\[?(\d{1,4})\]?\s*[.):\-]\s*(.*?)\s*$")


@dataclass(frozen=True)
class Translation:
    """One target language's subtitle lines and document passages."""

    language: str
    lines: tuple[str, ...]
    passages: tuple[str, ...]


def translate(lines: Sequence[str], passages: Sequence[str], source: str, target: str,
              settings: LLMSettings, cache: LLMCache | None = None,
              prompts_dir: Path | None = None) -> Outcome:
    """``lines`` (subtitle cues' texts) and ``passages`` (document chunks' Markdown) from
    ``source`` into ``target``: an :class:`Outcome` whose value is a :class:`Translation`.
    An answer that no try makes usable raises :class:`~scribeflow.writing.llm.Unusable`."""
    line_prompt = load_prompt("translate_lines", prompts_dir)
    text_prompt = load_prompt("translate_text", prompts_dir)
    names = {"source": language_name(source), "target": language_name(target)}

    async def lines_of(llm: LLMClient, batch: Sequence[str]) -> list[str]:
        numbered = "\n".join(f"{n}. {' '.join(line.split())}" for n, line in
                             enumerate(batch, start=1))
        answer = await llm.complete(
            line_prompt.render(lines=numbered, **names),
            cache_as=(line_prompt.name, line_prompt.version),
            check=lambda text: _lines_problem(text, batch, source, target))
        return _numbered_lines(answer.text, len(batch))  # type: ignore[return-value]

    async def passage(llm: LLMClient, text: str) -> str:
        answer = await llm.complete(
            text_prompt.render(text=text, **names),
            cache_as=(text_prompt.name, text_prompt.version),
            check=lambda answer: _text_problem(_cleaned(answer), text, source, target))
        return _cleaned(answer.text)

    async def work(llm: LLMClient) -> Outcome:
        batches = [lines[i:i + LINES_PER_REQUEST] for i in range(0, len(lines),
                                                                  LINES_PER_REQUEST)]
        done = await asyncio.gather(*(lines_of(llm, b) for b in batches),
                                    *(passage(llm, p) for p in passages))
        translated = tuple(line for batch in done[:len(batches)] for line in batch)
        return Outcome(value=Translation(target, translated, tuple(done[len(batches):])))

    return run_llm_work(settings, cache, work)


def _cleaned(text: str) -> str:
    return filter_preamble(text).text


def _numbered_lines(text: str, count: int) -> list[str] | None:
    """The answer's lines 1..``count`` by number (other lines, chatter, left out), or None
    when one is missing or empty."""
    found: dict[int, str] = {}
    for line in text.splitlines():
        if (match := _NUMBERED.match(line)) and 1 <= int(match[1]) <= count:
            found.setdefault(int(match[1]), match[2])
    if len(found) != count or not all(found.values()):
        return None
    return [found[n] for n in range(1, count + 1)]


def _lines_problem(text: str, batch: Sequence[str], source: str, target: str) -> str | None:
    lines = _numbered_lines(text, len(batch))
    if lines is None:
        given = sum(1 for line in text.splitlines() if _NUMBERED.match(line))
        return f"{given} numbered lines for {len(batch)} (each line must be translated)"
    return _text_problem("\n".join(lines), "\n".join(batch), source, target)


def _text_problem(answer: str, original: str, source: str, target: str) -> str | None:
    """Why ``answer`` is not a whole translation of ``original`` into ``target``, or None."""
    have, want = _weight(answer, target), _weight(original, source)
    if want and have < MIN_LENGTH_RATIO * want:
        return (f"it keeps {have / want:.0%} of the source's text: content was dropped")
    if want and have > MAX_LENGTH_RATIO * want:
        return f"it is {have / want:.1f} times as long as the source: not a translation of it"
    return wrong_language(answer, target)


def _weight(text: str, language: str) -> int:
    letters = sum(1 for ch in text if ch.isalpha())
    return letters * 3 if language in SPACELESS else letters


def wrong_language(text: str, expected: str) -> str | None:
    """Why ``text`` is not in ``expected`` (a code), or None (also when it cannot be told)."""
    if sum(1 for ch in text if ch.isalpha()) < MIN_CHARS_TO_IDENTIFY:
        return None
    identifier = _identifier()
    code = {"jw": "jv", "yue": "zh"}.get(expected, expected)
    if code not in identifier.nb_classes:  # a language it does not know: not checked
        return None
    ranked = [c for c, _ in identifier.rank(text)[:LANGUAGE_RANKS]]
    if code in ranked:
        return None
    return f"it is in {language_name(ranked[0])} ({ranked[0]}), not {language_name(expected)}"


@functools.cache
def _identifier():  # noqa: ANN202  (py3langid's LanguageIdentifier)
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
