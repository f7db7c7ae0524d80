"""Speakers through ``scribeflow run``: a real phone call between two women (pyannote.audio's
sample, with its RTTM) comes out with two speakers in ``speakers.json``, the subtitles, the
text and the document; a run that turns it off shows none; a bad count is one line."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from e2e.conftest import SCRIBEFLOW, clean_env

from scribeflow.core.files import DataPaths, read_json
from support.media import wheel_files

pytestmark = pytest.mark.e2e
WARM_HOSTS = True
SPEAKERS = True


@pytest.fixture(scope="module")
def call(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("call")
    (wav,) = wheel_files(folder, {"pyannote.audio==3.3.2": ("pyannote/audio/sample/sample.wav",)})
    out = folder / "phone-call.mp3"
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(wav), str(out)],
                   check=True)
    return out


def test_a_call_between_two_people_shows_both_in_every_output(call, run_pipeline, tmp_path):
    outcome = run_pipeline(str(call), tmp_path / "data")
    assert outcome.code == 0, outcome.output
    summary = read_json(Path(outcome.line("summary")))
    assert summary["status"] == "success" and summary["speakers"] == 2
    assert summary["speakers_found"] == "done" and summary["speaker_turns"] >= 4
    video = DataPaths(tmp_path / "data").video(summary["video_id"])
    found = read_json(video.speakers)
    assert [s["speaker"] for s in found["speakers"]] == ["Speaker 1", "Speaker 2"]
    srt, vtt, txt = video.srt.read_text(), video.vtt.read_text(), video.txt.read_text()
    assert "Speaker 1:" in srt and "Speaker 2:" in srt
    assert "<v Speaker 1>" in vtt and "<v Speaker 2>" in vtt
    assert txt.startswith("Speaker 1: ") and "\nSpeaker 2: " in txt
    document = video.document.read_text()  # no LLM: each turn a paragraph under its speaker
    assert "Speaker 1: " in document and "\n\nSpeaker 2: " in document
    transcript = read_json(video.transcript)  # whisper's own transcript is left as it was
    assert all("speaker" not in s or s["speaker"] is None for s in transcript["segments"])
    env = clean_env(SCRIBEFLOW_DATA=str(tmp_path / "data"))

    def search(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([SCRIBEFLOW, "search", "what did they say", "-k", "20",
                               "--video", summary["video_id"], *args], env=env,
                              capture_output=True, text=True)

    every = json.loads(search("--json").stdout)  # each hit names who is heard in it
    assert {s for hit in every for s in hit["speakers"]} == {"Speaker 1", "Speaker 2"}
    seconds = json.loads(search("--speaker", "2", "--json").stdout)
    assert seconds and all("Speaker 2" in hit["speakers"] for hit in seconds)
    assert len(seconds) < len(every) or all(len(h["speakers"]) == 2 for h in every)
    assert "Speaker 2" in search("--speaker", "Speaker 2").stdout
    refused = search("--speaker", "the host")
    assert refused.returncode != 0 and refused.stderr.strip().splitlines()[-1].endswith(
        "filter speaker must be a speaker's number, as the transcript shows it (2 or "
        "'Speaker 2'), not 'the host'")

    again = run_pipeline(str(call), tmp_path / "data", "--force", "--no-diarize")
    assert again.code == 0, again.output
    summary = read_json(Path(again.line("summary")))
    assert summary.get("speakers") is None and not video.speakers.exists()
    assert "Speaker" not in video.srt.read_text() and "<v " not in video.vtt.read_text()


def test_a_speaker_count_out_of_range_is_one_line_before_the_run(call, run_pipeline,
                                                                 tmp_path):
    outcome = run_pipeline(str(call), tmp_path / "data", "--num-speakers", "25")
    assert outcome.code == 2
    assert outcome.output.strip().splitlines()[-1] == (
        "error: num_speakers must be from 0 to 20, not 25")
