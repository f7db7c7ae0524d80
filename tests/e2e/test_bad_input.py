"""Bad input through the whole DAG: a one-line cause in the summary and the task log, and the
store exactly as it was."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from scribeflow.files import DataPaths, read_json
from scribeflow.store.parquet import ParquetStore

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stocked(media, run_pipeline, tmp_path_factory) -> DataPaths:
    """A data folder whose store already holds one processed video."""
    data = DataPaths(tmp_path_factory.mktemp("stocked"))
    outcome = run_pipeline(media.url("talk.mp4"), data.root, "--chunk-words", "60")
    assert outcome.code == 0, outcome.output
    assert ParquetStore(data.parquet_store).count() > 0
    return data


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


CASES = [
    ("invalid-url", lambda m: "htp:/not a url", r"not a URL or an existing file: 'htp:/not a url'"),
    ("http-404", lambda m: m.url("missing.mp4"), "HTTP Error 404"),
    ("non-media", lambda m: m.url("notes.txt"), "not a media file: "),
    ("no-audio", lambda m: m.url("noaudio.mp4"), "no audio stream in "),
    ("missing-file", lambda m: str(m.root / "nope.mp4"), "file not found: "),
]


@pytest.mark.parametrize(("name", "url_of", "cause"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_fails_with_one_line_cause(name, url_of, cause, media, stocked, run_pipeline):
    before = digest(stocked.parquet_store)
    url = url_of(media)
    outcome = run_pipeline(url, stocked.root)
    assert outcome.code == 1, outcome.output
    assert outcome.line("status") == "failed"
    error = outcome.line("error")
    assert cause in error and error.endswith("(step download)"), error
    summary_path = Path(outcome.line("summary"))
    summary = read_json(summary_path)
    assert summary["status"] == "failed"
    assert summary["error"]["step"] == "download"
    assert cause in summary["error"]["cause"] and "\n" not in summary["error"]["cause"]
    log_path = next(line.split("Airflow log: ")[1].rstrip(")") for line in outcome.output.splitlines()
                    if "Airflow log: " in line)
    log = Path(log_path).read_text()
    assert cause in log and "Traceback" not in log.split(cause)[0][-2000:]
    assert digest(stocked.parquet_store) == before


def test_silent_audio_succeeds_with_empty_transcript(media, stocked, run_pipeline):
    before = digest(stocked.parquet_store)
    outcome = run_pipeline(media.url("silent.mp4"), stocked.root)
    assert outcome.code == 0, outcome.output
    assert outcome.line("segments") == "0"
    assert "no speech detected: the transcript is empty" in outcome.output
    transcript = read_json(stocked.video("generic-silent").transcript)
    assert transcript["segments"] == []
    assert stocked.video("generic-silent").srt.read_text().strip() == ""
    assert digest(stocked.parquet_store) == before
