"""Run ``scribeflow run`` (which runs ``video_pipeline`` with ``dag.test()``) in a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from scribeflow.core.files import DataPaths
from scribeflow.hosts.airflow_home import airflow_env, ensure_metadata_db
from support.airflow import clean_env
from support.openai_server import EditorScript, ScriptedOpenAI

SCRIBEFLOW = str(Path(sys.executable).with_name("scribeflow"))


@dataclass(frozen=True)
class RunOutcome:
    code: int
    output: str

    def line(self, label: str) -> str:
        for line in self.output.splitlines():
            if line.startswith(f"{label}:"):
                return line[len(label) + 1:].strip()
        raise AssertionError(f"no {label!r} line in:\n{self.output}")


@pytest.fixture(scope="session")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh SQLite metadata database for the session's runs."""
    home = tmp_path_factory.mktemp("airflow_home")
    env = airflow_env() | {"AIRFLOW_HOME": str(home),
                           "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db?timeout=30"}
    ensure_metadata_db(env, home / "migrate.log")
    return home


def serving(kind: str, work: Path, env: dict[str, str]):
    """``scribeflow {kind} serve`` (``models`` or ``runs``) on a socket in ``work`` until the
    fixture ends, when SIGTERM stops it cleanly and removes its socket."""
    socket, log = work / f"{kind}.sock", work / f"{kind}.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([SCRIBEFLOW, kind, "serve", "--socket", str(socket)], env=env,
                                stdout=out, stderr=subprocess.STDOUT)
    ready = "model host ready" if kind == "models" else "run host ready"
    deadline = time.monotonic() + 120
    while ready not in log.read_text():
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.2)
    yield socket
    proc.terminate()
    assert proc.wait(30) == 0 and not socket.exists(), log.read_text()


def run_host_env(airflow_home: Path) -> dict[str, str]:
    """The Airflow settings ``run_pipeline`` gives its runs (a run host must share them)."""
    return clean_env(
        AIRFLOW_HOME=str(airflow_home),
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{airflow_home}/airflow.db?timeout=30")


@pytest.fixture(scope="session")
def warm_hosts(tmp_path_factory: pytest.TempPathFactory, airflow_home: Path):
    """A model host and a run host for the session's runs, as ``make up`` and ``ingest`` use
    them: each run then skips importing Airflow and loading whisper and the embedding model
    (14 s of CPU a run without them, 6 s with them)."""
    work = tmp_path_factory.mktemp("warm-hosts")
    models = serving("models", work, clean_env())
    runs = serving("runs", work, run_host_env(airflow_home))
    yield {"SCRIBEFLOW_MODEL_HOST": str(next(models)), "SCRIBEFLOW_RUN_HOST": str(next(runs))}
    for host in (runs, models):
        next(host, None)


@pytest.fixture(scope="module")
def run_pipeline(airflow_home: Path, request: pytest.FixtureRequest):
    """``scribeflow run`` against the session's metadata database. A module that sets
    ``WARM_HOSTS = True`` sends its runs to :func:`warm_hosts`; the others (the main pipeline
    test among them) run each in a process of its own that loads its own models, as a plain
    ``scribeflow run`` does. Runs are told the speech is English unless the module sets
    ``LANGUAGE``, and look for speakers only in a module that sets ``SPEAKERS = True`` (their
    test media have one espeak-ng voice; the speaker step costs a task and a model load)."""
    hosts = (request.getfixturevalue("warm_hosts")
             if getattr(request.module, "WARM_HOSTS", False) else {})
    # the test media speak English, which the CPU's auto reads with tiny.en when it is told
    # so; a module that sets LANGUAGE = "auto" runs with the product's own default
    language = {"SCRIBEFLOW_LANGUAGE": getattr(request.module, "LANGUAGE", "en"),
                "SCRIBEFLOW_DIARIZE": str(getattr(request.module, "SPEAKERS", False)).lower()}

    def run(url: str, data_dir: Path, *args: str, env: dict[str, str] | None = None) -> RunOutcome:
        full_env = run_host_env(airflow_home) | {"SCRIBEFLOW_DATA": str(data_dir)} | hosts \
            | language | (env or {})
        proc = subprocess.run([SCRIBEFLOW, "run", url, *args], env=full_env,
                              capture_output=True, text=True, timeout=600)
        return RunOutcome(code=proc.returncode, output=proc.stdout + proc.stderr)

    return run


def run_note(airflow_home: Path, run_id: str) -> str | None:
    """The note the UI shows on a ``video_pipeline`` run, from the session's metadata DB."""
    import sqlite3

    with sqlite3.connect(airflow_home / "airflow.db") as db:
        row = db.execute("SELECT n.content FROM dag_run r JOIN dag_run_note n ON "
                         "n.dag_run_id = r.id WHERE r.dag_id = 'video_pipeline' AND "
                         "r.run_id = ?", (run_id,)).fetchone()
    return row[0] if row else None


def result_line(note: str | None) -> str | None:
    """The ``Result:`` line of a run's note (beside its title and results page lines)."""
    return next((line for line in (note or "").splitlines() if line.startswith("Result: ")), None)


VIDEO_ID = "generic-talk"


@dataclass
class Processed:
    data: DataPaths
    outcome: object
    server: ScriptedOpenAI
    script: EditorScript
    env: dict

    @property
    def video(self):
        return self.data.video(VIDEO_ID)


def process_talk(media, run_pipeline, tmp_path_factory):
    """Run talk.mp4 through the pipeline against the scripted LLM (yields, then stops it)."""
    data_dir = tmp_path_factory.mktemp("data")
    script = EditorScript(refuse_word="magma")
    server = ScriptedOpenAI(script).start()
    connection = {"conn_type": "openai", "host": server.base_url, "password": "test-key",
                  "extra": {"model": "primary-model", "fallback_model": "fallback-model"}}
    env = {"AIRFLOW_CONN_OPENAI_DEFAULT": json.dumps(connection),
           "SCRIBEFLOW_MIN_CHUNKS_PER_GROUP": "2", "SCRIBEFLOW_MAX_LLM_GROUPS": "4"}
    outcome = run_pipeline(media.url("talk.mp4"), data_dir, "--chunk-words", "25", env=env)
    yield Processed(data=DataPaths(data_dir), outcome=outcome, server=server, script=script,
                    env=env)
    server.stop()




@pytest.fixture(scope="session")
def browser():
    """Headless Chromium (Debian's chromium and chromedriver) through Selenium."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic",
                 "--autoplay-policy=no-user-gesture-required"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()
