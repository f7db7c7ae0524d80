"""Remove the chatter models put around an answer ("Certainly! Here's a refined version…").

Models asked for "the text only" still often open with a preamble or close with an offer
to help. Each line at the start or end of an answer is scored by the tell-tale phrases it
holds; lines scoring at or above the threshold are removed, stopping at the first line of
real content. The filter reports the share of text it removed and refuses, loudly, to
remove what does not look like chatter (more lines or characters than any preamble has, or
the whole answer): then it keeps the answer as it was.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

#: (pattern, weight). Weights are tuned so one strong tell (3+) flags a short line.
TELLS: tuple[tuple[re.Pattern[str], int], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), weight)
    for pattern, weight in (
        (r"^\W*(certainly|absolutely|of course|sure)\s*[!.]", 3),
        (r"\bhere(?:'s| is| are)\b.{0,40}\b(refined|revised|polished|rewritten|cleaned|"
         r"improved|corrected|formatted|edited|markdown|version|text|transcript|passage|"
         r"translation|translated)\b", 4),
        (r"\bthis (refined|revised|polished|rewritten|cleaned|formatted) (text|version)\b", 3),
        (r"\bensuring consistency\b", 3),
        (r"\bi(?:'ve| have) (formatted|rewritten|refined|cleaned|revised|polished|corrected|"
         r"removed|kept|made)\b", 3),
        (r"\b(below is|as requested|as you requested)\b", 2),
        (r"\b(let me know if|hope (this|that) helps|feel free to)\b", 3),
        (r"\b(refined|revised|polished|rewritten|formatted|cleaned[- ]up) "
         r"(version|text|transcript|markdown)\b", 2),
        (r"\bthe (text|transcript|passage) (above|below)\b", 2),
        (r":\s*$", 1),
    )
)
#: Lines longer than this are content, whatever they say.
MAX_TELL_WORDS = 40
_SEPARATOR = re.compile(r"^\s*(-{3,}|\*{3,}|_{3,}|```[\w-]*|~~~)\s*$")


@dataclass(frozen=True)
class FilterResult:
    text: str
    removed: tuple[str, ...] = field(default=())
    removed_pct: float = 0.0
    #: True when lines were flagged but kept because removing them would gut the answer.
    refused: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.removed)


def score_line(line: str) -> int:
    """Sum of the weights of the tell-tale phrases in ``line`` (0 for long content lines)."""
    if len(line.split()) > MAX_TELL_WORDS:
        return 0
    return sum(weight for pattern, weight in TELLS if pattern.search(line))


def filter_preamble(
    text: str, threshold: int = 3, max_removed_lines: int = 4, max_removed_chars: int = 400
) -> FilterResult:
    """Strip flagged lines (and separators) from the start and end of ``text``.

    Returns the cleaned text with what was removed and the percentage of characters removed.
    If removal would leave nothing, or take more than ``max_removed_lines`` lines or
    ``max_removed_chars`` characters (more than chatter ever is), the text is returned
    unchanged with ``refused=True`` so the caller logs it instead of losing content.
    """
    lines = text.strip().splitlines()

    def is_chatter(line: str) -> bool:
        return not line.strip() or bool(_SEPARATOR.match(line)) or score_line(line) >= threshold

    head = 0
    while head < len(lines) and is_chatter(lines[head]):
        head += 1
    tail = len(lines)
    while tail > head and is_chatter(lines[tail - 1]):
        tail -= 1
    removed = tuple(line for line in lines[:head] + lines[tail:] if line.strip())
    if not removed:
        return FilterResult(text=text.strip())
    kept = "\n".join(lines[head:tail]).strip()
    total = len(text.strip())
    pct = 100.0 * (total - len(kept)) / total if total else 0.0
    removed_chars = sum(len(line) for line in removed)
    if not kept or len(removed) > max_removed_lines or removed_chars > max_removed_chars:
        return FilterResult(text=text.strip(), removed=removed, removed_pct=round(pct, 2),
                            refused=True)
    return FilterResult(text=kept, removed=removed, removed_pct=round(pct, 2))
