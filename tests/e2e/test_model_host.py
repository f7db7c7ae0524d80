"""``video_pipeline`` with a model host (``scribeflow models serve``) on this host: its tasks
load no model, the host loads each once for every video, and the results are the ones the
task would have made itself. The runs go to a run host (``scribeflow runs serve``): one
forked with Airflow imported, one refused for its other Airflow setting and run in a process
of its own, with the same results."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from e2e.conftest import run_host_env, serving

from scribeflow.core.files import DataPaths, read_json
from scribeflow.hosts.model_client import ModelHostClient
from support.airflow import clean_env
from support.media import speech_video

pytestmark = pytest.mark.e2e
SPEAKERS = True  # the host keeps the speaker model too


IN_A_TASK = """
import json, sys
from pathlib import Path
from scribeflow.core.config import PipelineSettings
from scribeflow.pipeline.transcription import transcribe_options
from scribeflow.speech.whisper import transcribe
options = transcribe_options(PipelineSettings.from_env({"data_dir": sys.argv[2],
                                                        "language": "en"}))  # as run
print(json.dumps(transcribe(Path(sys.argv[1]), "talk", options).to_dict()["segments"]))
"""


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    yield from serving("models", tmp_path_factory.mktemp("host"), clean_env())


@pytest.fixture(scope="module")
def run_host(tmp_path_factory, airflow_home):
    """``scribeflow runs serve`` with the Airflow settings ``run_pipeline`` gives its runs."""
    yield from serving("runs", tmp_path_factory.mktemp("runs"), run_host_env(airflow_home))


def test_tasks_send_their_models_work_to_the_host(host, run_host, media, run_pipeline, tmp_path):
    second = speech_video(tmp_path / "second.mp4", (
        "Glaciers form where more snow falls in winter than melts in summer.",
        "Under its own weight the ice begins to flow slowly downhill."))
    data = DataPaths(tmp_path / "data")
    env = {"SCRIBEFLOW_MODEL_HOST": str(host), "SCRIBEFLOW_RUN_HOST": str(run_host)}
    outcomes = [run_pipeline(url, data.root, "--chunk-words", "25", env=env | extra)
                for url, extra in ((media.url("talk.mp4"), {"AIRFLOW__CORE__PARALLELISM": "3"}),
                                   (str(second), {}))]
    logs = [Path(re.search(r"\(Airflow log: (.+)\)", o.output).group(1)).read_text()
            for o in outcomes]
    assert ("refused the run: its Airflow settings differ from the host's: "
            "AIRFLOW__CORE__PARALLELISM; running in a new process") in logs[0]
    assert "run host: this run is process" not in logs[0]
    assert logs[1].startswith("run host: this run is process"), logs[1][:500]
    for outcome in outcomes:
        assert outcome.code == 0, outcome.output
        assert outcome.line("transcription") == "done"
        summary = json.loads(Path(outcome.line("summary")).read_text())
        clocks = summary["timings"]
        assert clocks["transcribe"]["model_load_s"] == 0
        # at most ctranslate2, to learn the device: not faster_whisper, not torch
        assert set(clocks["transcribe"]["imported"]) <= {"ctranslate2", "numpy", "yaml"}, \
            clocks["transcribe"]["imported"]
        assert clocks["embed_and_upsert"]["model_load_s"] == 0
        assert clocks["find_speakers"]["model_load_s"] == 0  # the host's speaker model
        assert "torch" not in clocks["find_speakers"]["imported"]
        assert clocks["embed_and_upsert"]["imports_s"] == 0  # not even torch
        assert clocks["embed_and_upsert"]["imported"] == []
        assert summary["rows"] > 0 and summary["embedding"].endswith(" 0 unchanged")
    status = ModelHostClient(host).status()
    assert status["loads"] == {"whisper tiny.en (cpu/int8)": 1, "embedding all-MiniLM-L6-v2": 1,
                               "speakers campplus-cn-en-common": 1}
    assert status["requests"] == 6  # a transcription, speakers and an embedding per video

    # the host's transcript is the one a task's own process makes from the same audio and
    # options (a new process, as a task's is: in a pytest worker that had run other tests,
    # whisper's word times came out 20 ms apart)
    video = data.video(json.loads(Path(outcomes[0].line("summary")).read_text())["video_id"])
    in_task = subprocess.run([sys.executable, "-c", IN_A_TASK, str(video.audio), str(data.root)],
                             capture_output=True, text=True, check=True).stdout
    assert read_json(video.transcript)["segments"] == json.loads(in_task)
