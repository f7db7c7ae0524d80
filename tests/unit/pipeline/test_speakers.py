"""The ``find_speakers`` step on a real call (pyannote.audio's sample): found once, reused,
removed when a run turns it off, never applied to another transcript; an endpoint's
transcript without times inside its pieces is not looked at, and says so."""

from __future__ import annotations

import dataclasses
import json
import subprocess
from pathlib import Path

import pytest

from scribeflow.core.config import PipelineSettings
from scribeflow.core.files import DataPaths, read_json, write_json_atomic
from scribeflow.core.records import Segment, Transcript
from scribeflow.pipeline.speakers import find_speakers, read_transcript
from support.media import require_tools, wheel_files

CALL_TRANSCRIPT = Path(__file__).parents[2] / "fixtures" / "call.transcript.json"


@pytest.fixture(scope="module")
def heard(tmp_path_factory):
    """The call as the pipeline's WAV and tiny.en's transcript of it (kept: see
    ``tests/unit/speech/test_speakers.py``)."""
    require_tools()
    folder = tmp_path_factory.mktemp("call")
    (wav,) = wheel_files(folder, {"pyannote.audio==3.3.2": ("pyannote/audio/sample/sample.wav",)})
    audio = folder / "audio.wav"
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(wav), "-ac", "1",
                    "-ar", "16000", str(audio)], check=True)
    return audio, Transcript.from_dict(json.loads(CALL_TRANSCRIPT.read_text()))


def _video(tmp_path, heard, key="k1", transcript=None):
    audio, made = heard
    video = DataPaths(tmp_path).video("call")
    video.root.mkdir(parents=True, exist_ok=True)
    if not video.audio.exists():
        video.audio.write_bytes(audio.read_bytes())
    write_json_atomic(video.transcript, (transcript or made).to_dict() | {"cache_key": key})
    return video


def test_found_once_reused_then_removed_when_a_run_turns_it_off(tmp_path, heard):
    video = _video(tmp_path, heard)
    settings = PipelineSettings.from_env({"data_dir": str(tmp_path)})
    first = find_speakers(str(video.root), settings)
    assert (first.count, first.reused, first.skipped) == (2, False, None)
    assert read_json(video.speakers)["transcript_key"] == "k1"
    assert "Speaker 2:" in video.srt.read_text()
    again = find_speakers(str(video.root), settings)
    assert again.reused and again.count == 2 and again.turns == first.turns
    # another count is other work
    three = find_speakers(str(video.root), dataclasses.replace(settings, num_speakers=3))
    assert three.count == 3 and not three.reused
    off = find_speakers(str(video.root), dataclasses.replace(settings, diarize=False))
    assert off.count is None and off.speakers is None and not video.speakers.exists()
    assert "Speaker" not in video.srt.read_text() + video.vtt.read_text() + video.txt.read_text()


def test_speakers_of_another_transcript_are_never_applied(tmp_path, heard):
    video = _video(tmp_path, heard)
    find_speakers(str(video.root), PipelineSettings.from_env({"data_dir": str(tmp_path)}))
    assert {s.speaker for s in read_transcript(video).segments} == {"Speaker 1", "Speaker 2"}
    _video(tmp_path, heard, key="k2")  # transcribed again (another model, say)
    assert {s.speaker for s in read_transcript(video).segments} == {None}


def test_an_endpoints_pieces_without_times_are_not_looked_at_and_the_run_says_so(tmp_path,
                                                                                heard):
    _, made = heard
    piece = dataclasses.replace(made, timestamps="piece", backend="endpoint", segments=(
        Segment(0, 0.0, made.duration, made.text),))
    video = _video(tmp_path, heard, transcript=piece)
    found = find_speakers(str(video.root), PipelineSettings.from_env({"data_dir": str(tmp_path)}))
    assert found.count is None and not video.speakers.exists()
    assert found.skipped == ("speakers not looked for: the transcription endpoint gave no times "
                             "within its pieces")
    assert video.srt.read_text().startswith("1\n00:00:00,000 --> ")
