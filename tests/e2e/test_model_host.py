"""``video_pipeline`` with a model host (``scribeflow models serve``) on this host: its tasks
load no model, the host loads each once for every video, and the results are the ones the
task would have made itself."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
from e2e.conftest import SCRIBEFLOW

from scribeflow.config import PipelineSettings
from scribeflow.files import DataPaths, read_json
from scribeflow.model_host import ModelHostClient
from scribeflow.steps import transcribe_options
from scribeflow.transcribe import transcribe
from support.airflow import clean_env
from support.media import speech_video

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    work = tmp_path_factory.mktemp("host")
    socket = work / "models.sock"
    log = work / "host.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([SCRIBEFLOW, "models", "serve", "--socket", str(socket)],
                                env=clean_env(), stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while "model host ready" not in log.read_text():
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.2)
    yield socket
    proc.terminate()
    assert proc.wait(30) == 0 and not socket.exists()


def test_tasks_send_their_models_work_to_the_host(host, media, run_pipeline, tmp_path):
    second = speech_video(tmp_path / "second.mp4", (
        "Glaciers form where more snow falls in winter than melts in summer.",
        "Under its own weight the ice begins to flow slowly downhill."))
    data = DataPaths(tmp_path / "data")
    env = {"SCRIBEFLOW_MODEL_HOST": str(host)}
    outcomes = [run_pipeline(url, data.root, "--chunk-words", "25", env=env)
                for url in (media.url("talk.mp4"), str(second))]
    for outcome in outcomes:
        assert outcome.code == 0, outcome.output
        assert outcome.line("transcription") == "done"
        summary = json.loads(Path(outcome.line("summary")).read_text())
        clocks = summary["timings"]
        assert clocks["transcribe"]["model_load_s"] == 0
        assert clocks["transcribe"]["imports_s"] < 0.5  # ctranslate2 for the device, no more
        assert clocks["embed_and_upsert"]["model_load_s"] == 0
        assert clocks["embed_and_upsert"]["imports_s"] == 0  # not even torch
        assert summary["rows"] > 0 and summary["embedding"].endswith(" 0 unchanged")
    status = ModelHostClient(host).status()
    assert status["loads"] == {"whisper tiny.en (cpu/int8)": 1, "embedding all-MiniLM-L6-v2": 1}
    assert status["requests"] == 4  # a transcription and an embedding per video

    # the host's transcript is the one this process makes from the same audio and options
    video = data.video(json.loads(Path(outcomes[0].line("summary")).read_text())["video_id"])
    options = transcribe_options(PipelineSettings.from_env({"data_dir": data.root}))
    in_task = transcribe(video.audio, "talk", options)
    as_stored = json.loads(json.dumps(in_task.to_dict()["segments"]))
    assert read_json(video.transcript)["segments"] == as_stored
