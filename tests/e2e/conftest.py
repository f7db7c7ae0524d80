"""Run ``scribeflow run`` (which runs ``video_pipeline`` with ``dag.test()``) in a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from scribeflow.cli import airflow_env, ensure_metadata_db
from scribeflow.files import DataPaths
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


@pytest.fixture(scope="session")
def run_pipeline(airflow_home: Path):
    def run(url: str, data_dir: Path, *args: str, env: dict[str, str] | None = None) -> RunOutcome:
        full_env = clean_env(
            AIRFLOW_HOME=str(airflow_home),
            AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{airflow_home}/airflow.db?timeout=30",
            SCRIBEFLOW_DATA=str(data_dir),
        ) | (env or {})
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
