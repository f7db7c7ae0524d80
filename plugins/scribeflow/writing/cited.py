"""Answers that cite their passages: the reader of a model's answer to a question asked of
numbered passages, and the check that each citation points at a passage that says it.

A sentence cites passages as ``[1]`` or ``[2][3]``; the answer "not in the library" is an
answer too (``found`` False). A citation of a passage that was not sent, a sentence whose
cited passages share none of its words, or an answer that cites nothing is not an answer
from the passages: it is unusable, asked again, and never cached.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

from scribeflow.core.errors import ScribeflowError

NOT_FOUND = "NOT IN LIBRARY"
_CITE = re.compile(r"\[(\d{1,3})\]")
#: A sentence with the citations that follow its full stop (``… large. [1]``).
_SENTENCE = re.compile(r"[^.!?。！？]+(?:[.!?。！？]+|$)(?:\s*\[\d{1,3}\])*")
_WORD = re.compile(r"[^\W\d_]{4,}")
_NOT_FOUND_TEXT = re.compile(r"\b(?:not in (?:the )?library|does not (?:hold|contain)|"
                             r"do not (?:hold|contain)|no (?:passage|information))\b", re.I)


class AnswerParseError(ScribeflowError):
    """The answer can be read neither as an answer nor as "not in the library"."""


@dataclass(frozen=True)
class CitedAnswer:
    found: bool
    #: The answer with its ``[n]`` citations (numbers of the passages sent), or "".
    text: str = ""

    def cited(self) -> list[int]:
        """The passages cited, in order of first citation."""
        return list(dict.fromkeys(int(n) for n in _CITE.findall(self.text)))


def read_answer(found: bool, text: str) -> CitedAnswer:
    text = " ".join((text or "").split())
    if not found or text.upper().startswith(NOT_FOUND):
        return CitedAnswer(found=False)
    if not text:
        raise AnswerParseError("an answer marked found, with no text")
    return CitedAnswer(found=True, text=text)


def parse_answer(text: str) -> CitedAnswer:
    """An answer from text (or JSON with ``found`` and ``answer``, possibly fenced)."""
    text = (text or "").strip()
    body = re.sub(r"\A```(?:json)?\s*|\s*```\Z", "", text)
    if body.startswith("{"):
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        if isinstance(data, dict) and isinstance(data.get("answer"), str):
            return read_answer(bool(data.get("found", True)), data["answer"])
    if not text:
        raise AnswerParseError("an empty answer")
    if NOT_FOUND in text.upper() or (not _CITE.search(text) and _NOT_FOUND_TEXT.search(text)):
        return CitedAnswer(found=False)
    return read_answer(True, re.sub(r"^(?:answer|réponse|antwort)\s*:\s*", "", text, flags=re.I))


def words(text: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(text)}


def uncited(answer: CitedAnswer, passages: Sequence[str]) -> str | None:
    """Why ``answer`` is not an answer from ``passages`` (numbered from 1), or None."""
    if not answer.found:
        return None
    cited = answer.cited()
    if not cited:
        return "the answer cites no passage"
    if outside := [n for n in cited if not 1 <= n <= len(passages)]:
        return f"the answer cites passage {outside[0]}, but {len(passages)} were sent"
    for sentence in (s for s in _SENTENCE.findall(answer.text) if _CITE.search(s)):
        said = words(_CITE.sub("", sentence))
        sources = [int(n) for n in _CITE.findall(sentence)]
        if said and not any(said & words(passages[n - 1]) for n in sources):
            return (f"the sentence {_CITE.sub('', sentence).strip()[:80]!r} cites "
                    f"{''.join(f'[{n}]' for n in sources)}, which say none of its words")
    return None
