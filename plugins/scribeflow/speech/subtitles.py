"""Subtitles people can read, cut from the transcript's word timestamps; SRT, WebVTT and text.

A cue follows the broadcast rules (Netflix's and the BBC's timed-text guidelines): at most
``lines`` lines of at most ``line_chars`` characters (2 × 42; 16 a line in languages written
without spaces, whose characters are counted one by one), on screen 0.83–7 s, at most 20
characters a second, never overlapping the next. A cue ends at a sentence's end where one is
near, else at a clause's (a comma), else before a word that starts a phrase (``and``,
``which``, ``to``, …), never inside a word; its lines break the same way, as evenly as they
can. A cue whose speech is too fast to read is held longer, into the pause after it and
from up to ``LEAD_IN_S`` before its first word, never into another cue.

With speakers (segments labelled by ``speech.speakers.labelled``), a cue holds one speaker's
words: a change of speaker ends it, and the first cue of each turn starts with the speaker's
name (``Speaker 2: …``, counted in its line like any word). WebVTT gives every cue its voice
tag instead (``<v Speaker 2>``). A quick exchange whose cues would be too short alone shares
one cue as a dialogue: a line each, after a dash, each naming its speaker (``- Speaker 1:
Yes.`` / ``- Speaker 2: No.``; in WebVTT each line its voice).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from scribeflow.core.languages import SPACELESS
from scribeflow.core.links import timestamp
from scribeflow.core.records import Segment

#: A cue may show this long before its first word is heard, to be readable.
LEAD_IN_S = 0.5
#: A pause this long between two words always ends a cue.
PAUSE_S = 1.5
#: Words a phrase starts with: a line or cue is better broken before them.
PHRASE_STARTS = frozenset("""
    and but or nor so yet because although though while when where which who whom whose that
    if unless until since after before as than to of in on at by for with from into about
    over under between through during without the a an
    und oder aber denn weil dass wenn als ob wie wo der die das den dem des ein eine im am zum
    zur mit von für auf aus bei nach über unter durch
    y o pero porque que cuando donde como si el la los las un una del al en con por para sin
    et ou mais parce quand le les une des du au avec pour dans sur
""".split())
_SENTENCE = (".", "?", "!", "…", "。", "？", "！")
_CLAUSE = (",", ";", ":", "，", "；", "：", "、", "—", "-")
#: How much a line break is worth by what it follows (``_Token.after``), against lines of
#: uneven length (0 to 1).
_BREAK = (0.0, 0.4, 0.8, 1.0)


@dataclass(frozen=True)
class SubtitleStyle:
    """The limits every cue keeps."""

    line_chars: int = 42
    lines: int = 2
    min_s: float = 0.83
    max_s: float = 7.0
    max_cps: float = 20.0
    #: Words are joined with a space (False: written without spaces).
    spaced: bool = True

    @classmethod
    def for_language(cls, language: str, line_chars: int = 0, lines: int = 2) -> SubtitleStyle:
        """The style of ``language``: ``line_chars`` 0 is 42, or 16 without spaces."""
        spaced = language not in SPACELESS
        return cls(line_chars=line_chars or (42 if spaced else 16), lines=lines, spaced=spaced)


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    lines: tuple[str, ...]
    #: Whose words these are (None: speakers were not found, or only one, or a dialogue).
    speaker: str | None = None
    #: A dialogue's speakers, one a line (empty: not a dialogue).
    dialogue: tuple[str, ...] = ()

    @property
    def chars(self) -> int:
        """Characters read (the line break not counted)."""
        return sum(len(line) for line in self.lines)


@dataclass(frozen=True)
class _Token:
    start: float
    end: float
    text: str
    #: 3 after a sentence's end, 2 after a clause's, 1 before a phrase's start, else 0.
    after: int = 0
    speaker: str | None = None


def cues(segments: Iterable[Segment], style: SubtitleStyle | None = None) -> list[Cue]:
    """The transcript's subtitles, cut to ``style`` from its words' times."""
    style = style or SubtitleStyle()
    tokens = _tokens(segments, style.spaced)
    groups: list[list[_Token]] = []
    current: list[_Token] = []
    for token in tokens:
        if current and (token.start - current[-1].end > PAUSE_S
                        or token.speaker != current[-1].speaker
                        or (current[-1].after == 3 and _duration(current) >= style.min_s)):
            groups.append(current)
            current = []
        while current and not _fits(current + [token], style):
            cut = _best_cut(current)
            groups.append(current[:cut])
            current = current[cut:]
        current.append(token)
    if current:
        groups.append(current)
    made = _timed(groups, style)
    while short := [i for i, c in enumerate(made) if c.end - c.start < style.min_s - 1e-6]:
        # too short even held into the pauses around it: one with a neighbour, if they fit
        # (the same speaker's words first, else the two speakers as a dialogue)
        i = short[0]
        pairs = [j for j in (i - 1, i) if 0 <= j and j + 1 < len(groups)]
        same = [j for j in pairs if groups[j][-1].speaker == groups[j + 1][0].speaker
                and _fits(groups[j] + groups[j + 1], style)]
        talk = [j for j in pairs if _dialogue(groups[j], groups[j + 1], style)]
        if not same and not talk:
            break  # nothing fits: left as it is (problems() reports it)
        j = (same or talk)[0]
        groups[j:j + 2] = [groups[j] + groups[j + 1]]
        made = _timed(groups, style)
    return made


def _turns(tokens: Sequence[_Token]) -> list[list[_Token]]:
    """The tokens in runs of one speaker each."""
    runs: list[list[_Token]] = []
    for token in tokens:
        if runs and runs[-1][-1].speaker == token.speaker:
            runs[-1].append(token)
        else:
            runs.append([token])
    return runs


def _dialogue_line(run: Sequence[_Token], spaced: bool) -> str:
    """``- Speaker 2: …``: one speaker's line of a dialogue, named whether or not the turn
    starts here."""
    name = f"{run[0].speaker}:"
    words = run[1:] if run[0].text == name else run
    return f"- {name} {_joined(words, spaced)}"


def _dialogue(first: Sequence[_Token], second: Sequence[_Token], style: SubtitleStyle) -> bool:
    """Whether two groups of different speakers share one cue as a dialogue: one speaker's
    words each, a line each within the limits, and heard within ``max_s``."""
    return (style.lines >= 2 and len(_turns(first)) == len(_turns(second)) == 1
            and first[0].speaker is not None and second[0].speaker is not None
            and first[0].speaker != second[0].speaker
            and second[-1].end - first[0].start <= style.max_s
            and all(len(_dialogue_line(g, style.spaced)) <= style.line_chars
                    for g in (first, second)))


def _lines(group: Sequence[_Token], style: SubtitleStyle) -> tuple[str, ...]:
    runs = _turns(group)
    if len(runs) > 1:  # a dialogue
        return tuple(_dialogue_line(run, style.spaced) for run in runs)
    return _broken(group, style) or (_joined(group, style.spaced),)


def _tokens(segments: Iterable[Segment], spaced: bool) -> list[_Token]:
    tokens: list[_Token] = []
    for seg in segments:
        if seg.speaker and (not tokens or tokens[-1].speaker != seg.speaker) and (
                seg.words or seg.text.strip()):  # a new turn starts with its speaker's name
            tokens.append(_Token(seg.start, seg.start, f"{seg.speaker}:", 0, seg.speaker))
        words = [(w.start, w.end, w.word.strip()) for w in seg.words if w.word.strip()]
        if not words and seg.text.strip():  # no word times: spread the text over the segment
            parts = seg.text.split() if spaced else list("".join(seg.text.split()))
            total = sum(len(p) for p in parts) or 1
            at, span = seg.start, max(seg.end - seg.start, 0.0)
            for part in parts:
                step = span * len(part) / total
                words.append((at, at + step, part))
                at += step
        for i, (start, end, text) in enumerate(words):
            last = i == len(words) - 1
            after = 3 if text.endswith(_SENTENCE) or last else (
                2 if text.endswith(_CLAUSE) else 0)
            tokens.append(_Token(start, max(end, start), text, after, seg.speaker))
    # a break before a phrase's first word ("back | to the sea", not "back to | the sea")
    starts = [_starts_phrase(t) for t in tokens]
    return [_Token(t.start, t.end, t.text, 1, t.speaker)
            if not t.after and i + 1 < len(tokens) and starts[i + 1] and not starts[i] else t
            for i, t in enumerate(tokens)]


def _starts_phrase(token: _Token) -> bool:
    return token.text.lower().strip("¿¡\"'(") in PHRASE_STARTS


def _duration(tokens: Sequence[_Token]) -> float:
    return tokens[-1].end - tokens[0].start


def _joined(tokens: Sequence[_Token], spaced: bool) -> str:
    return (" " if spaced else "").join(t.text for t in tokens)


def _fits(tokens: Sequence[_Token], style: SubtitleStyle) -> bool:
    if len(tokens) > 1 and _duration(tokens) > style.max_s:
        return False
    return len(tokens) == 1 or _broken(tokens, style) is not None


def _broken(tokens: Sequence[_Token], style: SubtitleStyle) -> tuple[str, ...] | None:
    """The tokens as at most ``style.lines`` lines of at most ``style.line_chars``, broken
    at the best places (punctuation, then phrase starts, then evenly), or None."""
    text = _joined(tokens, style.spaced)
    if len(text) <= style.line_chars:
        return (text,)
    if style.lines == 1:
        return None
    best: tuple[float, tuple[str, ...]] | None = None
    for cut in range(1, len(tokens)):
        head = _joined(tokens[:cut], style.spaced)
        if len(head) > style.line_chars:
            break
        rest = _broken(tokens[cut:], SubtitleStyle(style.line_chars, style.lines - 1,
                                                   spaced=style.spaced))
        if rest is None:
            continue
        # a strong break first, then lines of even length, the lower one longer
        cost = -_BREAK[tokens[cut - 1].after] + abs(len(head) - len(rest[0])) / style.line_chars
        cost += 0.2 if len(head) > len(rest[0]) else 0.0
        if best is None or cost < best[0]:
            best = (cost, (head, *rest))
    return best[1] if best else None


def _best_cut(tokens: Sequence[_Token]) -> int:
    """Where to end a full cue: after the strongest break in its later half (a sentence's
    end before a clause's before a phrase's start), else after its last word."""
    half = max(1, len(tokens) // 2)
    scored = [(tokens[i - 1].after, i) for i in range(half, len(tokens) + 1)
              if tokens[i - 1].after]
    if not scored:
        return len(tokens)
    return max(scored)[1]


def _timed(groups: list[list[_Token]], style: SubtitleStyle) -> list[Cue]:
    """Cues from groups of words: held at least ``min_s`` and long enough to read at
    ``max_cps`` where the pauses around them allow (then from a neighbour's spare time), at
    most ``max_s``, never overlapping."""
    lines = [_lines(g, style) for g in groups]
    need = [min(max(style.min_s, sum(len(x) for x in ls) / style.max_cps), style.max_s)
            for ls in lines]
    spans: list[list[float]] = []
    for i, group in enumerate(groups):
        start, end = group[0].start, max(group[-1].end, group[0].start + 0.001)
        after = groups[i + 1][0].start if i + 1 < len(groups) else float("inf")
        before = spans[-1][1] if spans else 0.0
        end = min(max(end, start + need[i]), after, start + style.max_s)
        if end - start < need[i]:  # still short: show it a little before its first word
            start = max(before, start - LEAD_IN_S, end - need[i])
        spans.append([start, end])
    for i, span in enumerate(spans):
        short = need[i] - (span[1] - span[0])
        if short > 1e-6 and i + 1 < len(spans):  # the next cue starts later, if it can spare
            nxt = spans[i + 1]
            take = max(min(short, nxt[1] - nxt[0] - need[i + 1]), 0.0)
            span[1] += take
            nxt[0] += take
            short -= take
        if short > 1e-6 and i > 0:  # the previous cue ends sooner, if it can spare
            prev = spans[i - 1]
            take = max(min(short, prev[1] - prev[0] - need[i - 1]), 0.0)
            span[0] -= take
            prev[1] -= take
    made = []
    for (a, b), ls, g in zip(spans, lines, groups, strict=True):
        runs = _turns(g)
        made.append(Cue(round(float(a), 3), round(float(b), 3), ls,
                        g[0].speaker if len(runs) == 1 else None,
                        tuple(r[0].speaker for r in runs) if len(runs) > 1 else ()))
    return made


def translated_cues(source: Sequence[Cue], texts: Sequence[str],
                    style: SubtitleStyle) -> list[Cue]:
    """Cues of ``texts``, each the translation of one ``source`` cue, on that cue's times: a
    text too long for one cue is cut into several within its time, its words spread evenly."""
    out: list[Cue] = []
    for cue, text in zip(source, texts, strict=True):
        parts = cues([Segment(id=0, start=cue.start, end=cue.end, text=text)], style)
        out += [Cue(max(p.start, cue.start), min(p.end, cue.end), p.lines, cue.speaker)
                for p in parts]
    return out


def problems(subtitles: Sequence[Cue], style: SubtitleStyle) -> list[str]:
    """Each cue's breaches of ``style`` (empty when every cue keeps it)."""
    found = []
    for n, cue in enumerate(subtitles, start=1):
        shown = cue.end - cue.start
        if len(cue.lines) > style.lines:
            found.append(f"cue {n}: {len(cue.lines)} lines")
        if any(len(line) > style.line_chars for line in cue.lines):
            found.append(f"cue {n}: a line of {max(len(x) for x in cue.lines)} characters")
        if shown < style.min_s - 1e-6 or shown > style.max_s + 1e-6:
            found.append(f"cue {n}: on screen {shown:.2f} s")
        if shown > 0 and cue.chars / shown > style.max_cps + 1e-6:
            found.append(f"cue {n}: {cue.chars / shown:.1f} characters a second")
        if n < len(subtitles) and subtitles[n].start < cue.end - 1e-6:
            found.append(f"cue {n}: overlaps the next")
    return found


def to_srt(subtitles: Iterable[Cue]) -> str:
    blocks = [f"{n}\n{timestamp(c.start)} --> {timestamp(c.end)}\n" + "\n".join(c.lines) + "\n"
              for n, c in enumerate(subtitles, start=1)]
    return "\n".join(blocks)


def to_vtt(subtitles: Iterable[Cue]) -> str:
    blocks = [f"{timestamp(c.start, '.')} --> {timestamp(c.end, '.')}\n"
              + "\n".join(_voiced(c)) + "\n" for c in subtitles]
    return "WEBVTT\n\n" + "\n".join(blocks)


def _voiced(cue: Cue) -> list[str]:
    """A cue's WebVTT lines: the speaker as a voice tag, not as words (a dialogue: a voice
    on each line)."""
    lines = [line.replace("-->", "->") for line in cue.lines]
    if cue.dialogue:
        return [f"<v {who}>- {line.removeprefix(f'- {who}:').lstrip()}</v>"
                for who, line in zip(cue.dialogue, lines, strict=True)]
    if not cue.speaker:
        return lines
    name = f"{cue.speaker}:"
    if lines and lines[0].startswith(name):
        lines[0] = lines[0][len(name):].lstrip()
    lines = [line for line in lines if line] or [""]
    return [f"<v {cue.speaker}>{lines[0]}", *lines[1:]]


def to_text(segments: Iterable[Segment]) -> str:
    """One line per segment; with speakers, a turn's first line starts with its speaker."""
    lines, speaker = [], None
    for seg in segments:
        text = " ".join(seg.text.split())
        if not text:
            continue
        if seg.speaker and seg.speaker != speaker:
            text = f"{seg.speaker}: {text}"
        speaker = seg.speaker
        lines.append(text)
    return "\n".join(lines) + "\n"
