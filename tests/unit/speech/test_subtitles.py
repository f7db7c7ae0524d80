import pytest

from scribeflow.core.links import timestamp
from scribeflow.core.records import Segment
from scribeflow.speech.subtitles import to_srt, to_text, to_vtt

SEGMENTS = [
    Segment(id=0, start=0.0, end=1.5, text=" Hello there. "),
    Segment(id=1, start=1.5, end=1.5, text="   "),
    Segment(id=2, start=3661.25, end=3662.0, text="An hour --> later"),
]


@pytest.mark.parametrize(
    ("seconds", "sep", "expected"),
    [(0, ",", "00:00:00,000"), (1.5, ",", "00:00:01,500"), (3661.2504, ".", "01:01:01.250"),
     (-3, ",", "00:00:00,000"), (59.9996, ",", "00:01:00,000")],
)
def test_timestamp(seconds, sep, expected):
    assert timestamp(seconds, sep) == expected


def test_srt():
    assert to_srt(SEGMENTS) == (
        "1\n00:00:00,000 --> 00:00:01,500\nHello there.\n\n"
        "2\n01:01:01,250 --> 01:01:02,000\nAn hour --> later\n"
    )


def test_vtt_escapes_cue_arrow():
    vtt = to_vtt(SEGMENTS)
    assert vtt.startswith("WEBVTT\n\n00:00:00.000 --> 00:00:01.500\nHello there.\n")
    assert "An hour -> later" in vtt


def test_text_and_empty():
    assert to_text(SEGMENTS) == "Hello there.\nAn hour --> later\n"
    assert to_srt([]) == "" and to_vtt([]) == "WEBVTT\n\n"
