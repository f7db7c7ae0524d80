"""Transcription through an OpenAI-compatible endpoint, against a real local server that runs
the real tiny.en model: split uploads stitched back, 413 and 429 handled, endpoints without
word timestamps, and bad input."""

from __future__ import annotations

import itertools
import json
import subprocess
from pathlib import Path

import pytest

from scribeflow.core.cache import LLMCache
from scribeflow.core.endpoints import TranscriptionSettings
from scribeflow.core.errors import ConfigError, ScribeflowError
from scribeflow.evaluation.metrics import error_rates
from scribeflow.speech.endpoint import TranscriptionUnavailable, transcribe_endpoint
from support.media import SCRIPT
from support.speech_server import WhisperEndpoint

REFERENCE = " ".join(SCRIPT)
WARM_HOSTS = True  # its runs go to the session's model host and run host


@pytest.fixture(scope="module")
def talk_wav(media, tmp_path_factory) -> Path:
    """The known script as the pipeline's 16 kHz mono WAV (44 s, 1.4 MB)."""
    path = tmp_path_factory.mktemp("speech") / "audio.wav"
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i",
                    str(media.root / "talk.mp4"), "-ac", "1", "-ar", "16000", "-c:a", "pcm_s16le",
                    str(path)], check=True)
    return path


@pytest.fixture(scope="module")
def server():
    with WhisperEndpoint() as endpoint:
        yield endpoint


def settings(server: WhisperEndpoint, **kwargs) -> TranscriptionSettings:
    return TranscriptionSettings(base_url=server.base_url, api_key="sk-test", model="whisper-1",
                                 **kwargs)


@pytest.fixture(scope="module")
def unsplit(talk_wav, server):
    return transcribe_endpoint(talk_wav, "talk", settings(server))


def words_of(transcript) -> list:
    return [w for s in transcript.segments for w in s.words]


def test_whole_file_is_one_upload_with_word_times(unsplit, server):
    assert unsplit.settings["pieces"] == 1
    assert unsplit.timestamps == "word" and unsplit.backend == "endpoint"
    assert unsplit.language == "en"  # the endpoint says "english"
    assert error_rates(REFERENCE, unsplit.text)["wer"] < 0.15, unsplit.text
    words = words_of(unsplit)
    assert len(words) > 80 and all(w.probability is None for w in words)
    upload = server.answered()[0]
    assert upload.fields["response_format"] == ["verbose_json"]
    assert set(upload.fields["timestamp_granularities[]"]) == {"segment", "word"}


def test_audio_over_the_limit_is_split_at_silences_and_stitched_back(talk_wav, server, unsplit):
    before = len(server.uploads)
    split = transcribe_endpoint(talk_wav, "talk", settings(server, max_upload_mb=0.45))
    sizes = [u.size for u in server.uploads[before:]]
    assert split.settings["pieces"] == len(sizes) >= 3 and max(sizes) <= 450_000
    # the same words as the whole file: nothing lost or said twice at a seam
    seam_wer = error_rates(unsplit.text, split.text)["wer"]
    assert seam_wer <= 0.1, (unsplit.text, split.text)
    assert error_rates(REFERENCE, split.text)["wer"] < 0.15
    words = words_of(split)
    assert all(a.start <= b.start for a, b in itertools.pairwise(words)), "words out of order"
    assert all(a.word.strip().lower() != b.word.strip().lower() or b.start - a.end > 0.3
               for a, b in itertools.pairwise(words)), "a word repeated across a seam"
    # times are the file's, not each piece's: they reach the end of the speech
    assert words[-1].end > 0.8 * split.duration
    assert abs(words[-1].end - words_of(unsplit)[-1].end) < 1.5


def test_a_413_splits_the_piece_and_is_remembered(talk_wav, tmp_path):
    cache = LLMCache(tmp_path / "cache")
    with WhisperEndpoint(max_bytes=600_000) as small:
        transcript = transcribe_endpoint(talk_wav, "talk", settings(small), cache=cache)
        assert [u.status for u in small.uploads][0] == 413
        assert all(u.size <= 600_000 for u in small.answered())
        assert transcript.settings["too_large"] >= 1
        assert error_rates(REFERENCE, transcript.text)["wer"] < 0.15
        learned = transcript.settings["max_upload_bytes"]
        assert learned < 1_000_000
        # the next run starts with the smaller limit: no 413 at all
        first = len(small.uploads)
        again = transcribe_endpoint(talk_wav, "talk", settings(small), cache=cache)
        assert [u.status for u in small.uploads[first:]] == [200] * again.settings["pieces"]


def test_429s_are_retried(talk_wav):
    with WhisperEndpoint(rate_limited=2) as busy:
        transcript = transcribe_endpoint(talk_wav, "talk", settings(busy))
        assert [u.status for u in busy.uploads] == [429, 429, 200]
    assert transcript.settings["retries"] == 2 and transcript.segments


def test_an_endpoint_without_word_times_keeps_segment_times(talk_wav):
    with WhisperEndpoint(words=False) as plain:
        transcript = transcribe_endpoint(talk_wav, "talk", settings(plain))
    assert transcript.timestamps == "segment" and not words_of(transcript)
    assert len(transcript.segments) >= 3
    assert all(a.end <= b.start + 0.01 for a, b in itertools.pairwise(transcript.segments))


def test_an_endpoint_that_refuses_verbose_json_gets_one_segment_per_piece(talk_wav, tmp_path):
    cache = LLMCache(tmp_path / "cache")
    with WhisperEndpoint(verbose=False) as terse:
        transcript = transcribe_endpoint(talk_wav, "talk", settings(terse, max_upload_mb=0.8),
                                         cache=cache)
        pieces = transcript.settings["pieces"]
        assert transcript.timestamps == "piece"
        assert len(transcript.segments) == pieces == len(terse.answered()) >= 2
        assert terse.answered(400) and all(u.fields["response_format"] == ["json"]
                                           for u in terse.answered())
        assert error_rates(REFERENCE, transcript.text)["wer"] < 0.15
        # learned: the next run asks for plain JSON at once
        first = len(terse.uploads)
        transcribe_endpoint(talk_wav, "talk", settings(terse, max_upload_mb=0.8), cache=cache)
        assert [u.status for u in terse.uploads[first:]] == [200] * pieces


def test_a_refused_key_is_one_line_without_the_key(talk_wav, server):
    wrong = TranscriptionSettings(base_url=server.base_url, api_key="sk-wrong-secret")
    with pytest.raises(ConfigError) as caught:
        transcribe_endpoint(talk_wav, "talk", wrong)
    message = str(caught.value)
    assert "refused the API key (401)" in message and "sk-wrong-secret" not in message
    assert "\n" not in message
    # a failed piece stops the rest: 7 pieces, one request at a time, one upload in all
    before = len(server.uploads)
    wrong = TranscriptionSettings(base_url=server.base_url, api_key="sk-wrong-secret",
                                  max_upload_mb=0.2, concurrency=1)
    with pytest.raises(ConfigError, match="refused the API key"):
        transcribe_endpoint(talk_wav, "talk", wrong)
    assert len(server.uploads) - before == 1


def test_an_unreachable_endpoint_is_one_line(talk_wav):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    gone = TranscriptionSettings(base_url=f"http://127.0.0.1:{port}/v1", api_key="k",
                                 max_attempts=2)
    with pytest.raises(TranscriptionUnavailable, match=r"failed 2 times: APIConnectionError"):
        transcribe_endpoint(talk_wav, "talk", gone)


def test_no_endpoint_and_bad_audio_are_named(talk_wav, tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="no transcription endpoint configured"):
        transcribe_endpoint(talk_wav, "talk", TranscriptionSettings())
    mp3 = tmp_path / "audio.mp3"
    mp3.write_bytes(b"ID3 not a wav")
    with pytest.raises(ScribeflowError, match="cannot read audio.mp3 as WAV"):
        transcribe_endpoint(mp3, "talk", TranscriptionSettings(base_url="http://127.0.0.1:9/v1"))
    with pytest.raises(ConfigError, match="max_upload_mb must be at least 0.1"):
        TranscriptionSettings(max_upload_mb=0)


def test_the_pipeline_transcribes_through_the_endpoint(media, run_pipeline, server, tmp_path):
    """``scribeflow run --transcriber endpoint``: the same transcript record, subtitles and
    reuse as the local backend, the key from the connection and never in the log."""
    conn = json.dumps({"conn_type": "openai", "host": server.base_url, "password": "sk-test",
                       "extra": {"model": "whisper-1", "max_upload_mb": 0.6}})
    env = {"AIRFLOW_CONN_OPENAI_TRANSCRIPTION": conn}
    data = tmp_path / "data"
    outcome = run_pipeline(media.url("talk.mp4"), data, "--transcriber", "endpoint",
                           "--chunk-words", "60", env=env)
    assert outcome.code == 0, outcome.output
    assert outcome.line("transcriber").startswith("endpoint (whisper-1, word timestamps)")
    video = data / "videos" / "generic-talk"
    record = json.loads((video / "transcript.json").read_text())
    assert record["backend"] == "endpoint" and record["timestamps"] == "word"
    assert record["settings"]["pieces"] >= 3
    assert error_rates(REFERENCE, " ".join(s["text"] for s in record["segments"]))["wer"] < 0.15
    assert (video / "transcript.srt").read_text().startswith("1\n00:00:0")
    assert "volcanoes" in (video / "document.md").read_text().lower()
    uploads = len(server.uploads)
    again = run_pipeline(media.url("talk.mp4"), data, "--transcriber", "endpoint",
                         "--chunk-words", "60", "--force", env=env)
    assert again.code == 0 and again.line("transcription") == "reused"
    assert len(server.uploads) == uploads
    # without --force the finished run is found before Airflow starts, endpoint and all
    found = run_pipeline(media.url("talk.mp4"), data, "--transcriber", "endpoint",
                         "--chunk-words", "60", env=env)
    assert found.code == 0 and "reused run manual__" in found.output.splitlines()[0]
    assert found.line("transcriber").startswith("endpoint (whisper-1")
    logs = "".join(p.read_text(errors="replace") for p in data.rglob("*.log"))
    assert "sk-test" not in logs + outcome.output
