"""SRT, WebVTT and plain-text renderings of transcript segments."""

from __future__ import annotations

from collections.abc import Iterable

from scribeflow.core.links import timestamp
from scribeflow.core.records import Segment


def _cues(segments: Iterable[Segment]) -> list[tuple[float, float, str]]:
    cues = []
    for seg in segments:
        text = " ".join(seg.text.split())
        if text:
            cues.append((seg.start, max(seg.end, seg.start + 0.001), text))
    return cues


def to_srt(segments: Iterable[Segment]) -> str:
    blocks = [
        f"{n}\n{timestamp(start)} --> {timestamp(end)}\n{text}\n"
        for n, (start, end, text) in enumerate(_cues(segments), start=1)
    ]
    return "\n".join(blocks)


def to_vtt(segments: Iterable[Segment]) -> str:
    blocks = [
        f"{timestamp(start, '.')} --> {timestamp(end, '.')}\n{text.replace('-->', '->')}\n"
        for start, end, text in _cues(segments)
    ]
    return "WEBVTT\n\n" + "\n".join(blocks)


def to_text(segments: Iterable[Segment]) -> str:
    return "\n".join(text for _, _, text in _cues(segments)) + "\n"
