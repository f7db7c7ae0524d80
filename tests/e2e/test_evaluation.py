"""``scribeflow evaluate`` runs the ``evaluate`` DAG over the shipped reference set: results
table, HTML report, reuse of transcripts and LLM answers, and the regression gate."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest
from e2e.conftest import SCRIBEFLOW, run_note

from scribeflow.core.config import PROJECT_ROOT
from scribeflow.evaluation.report import read_evaluation_summary
from support.airflow import clean_env
from support.openai_server import JudgingEditor, ScriptedOpenAI

SHIPPED = PROJECT_ROOT / "include" / "evaluation"
CONFIGS = """configs:
  - name: default
    {prompts}
  - name: sequential-beam1
    settings:
      whisper_batched: false
      beam_size: 1
"""


@dataclass(frozen=True)
class Evaluation:
    code: int
    stdout: str
    stderr: str

    @property
    def run_id(self) -> str:
        line = next(line for line in self.stdout.splitlines() if line.startswith("run:"))
        return line.split(":", 1)[1].strip()


@pytest.fixture(scope="module")
def judge():
    editor = JudgingEditor()
    with ScriptedOpenAI(editor) as server:
        yield server, editor


@pytest.fixture(scope="module")
def evaluate(airflow_home, judge, tmp_path_factory):
    data = tmp_path_factory.mktemp("evaluation") / "data"
    server, _ = judge

    def run(*args: str, configs: str | None = None) -> Evaluation:
        env = clean_env(
            AIRFLOW_HOME=str(airflow_home),
            AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{airflow_home}/airflow.db?timeout=30",
            SCRIBEFLOW_DATA=str(data), OPENAI_BASE_URL=server.base_url, OPENAI_API_KEY="k",
            OPENAI_MODEL="main")
        if configs is not None:
            path = data.parent / "configs.yaml"
            path.write_text(configs)
            args = (*args, "--configs", str(path))
        proc = subprocess.run([SCRIBEFLOW, "evaluate", *args], env=env, capture_output=True,
                              text=True, timeout=900)
        return Evaluation(proc.returncode, proc.stdout, proc.stderr)

    run.root = data / "evaluation"
    return run


@pytest.fixture(scope="module")
def first(evaluate):
    return evaluate(configs=CONFIGS.format(prompts=""))


def test_first_evaluation_records_every_measure(first, evaluate, judge):
    assert first.code == 0, first.stdout + first.stderr
    table = pl.read_parquet(evaluate.root / "results.parquet")
    assert table.height == 6 and table["error"].null_count() == 6
    assert set(table["item"]) == {"photosynthesis-en", "ocean-tides-en", "fotosintesis-es"}
    english = table.filter(pl.col("language") == "en")
    assert english["wer"].max() < 0.2 and english["cer"].max() < 0.15
    assert english["quality"].min() >= 80 and english["content_kept"].min() >= 0.8
    assert (english["transcribe_s_per_min"] > 0).all() and (english["prompt_tokens"] > 0).all()
    # the Spanish item is read by the bundled multilingual base (the English ones by
    # tiny.en): 0.107 batched, 0.161 sequential at beam 1
    spanish = table.filter(pl.col("language") == "es")
    assert spanish["wer"].max() < 0.3
    assert judge[1].by_stage["quality_score"] >= 4  # each English item; Spanish may be empty
    summary = read_evaluation_summary(evaluate.root, first.run_id)
    assert summary["failed"] is None and [c["baseline"] for c in summary["configs"]] == [None, None]
    report = (evaluate.root / "report.html").read_text()
    assert "Passed" in report and report.count("<svg") == 3
    assert "default" in first.stdout and "sequential-beam1" in first.stdout


def test_unchanged_configurations_cost_nothing_again(first, evaluate, judge, airflow_home):
    server, _ = judge
    asked = len(server.requests)
    again = evaluate(configs=CONFIGS.format(prompts=""))
    assert again.code == 0, again.stdout + again.stderr
    assert len(server.requests) == asked  # every answer came from the cache
    table = pl.read_parquet(evaluate.root / "results.parquet")
    rows = table.filter(pl.col("run_id") == again.run_id)
    assert rows.height == 6 and rows["transcript_reused"].all()
    before = table.filter(pl.col("run_id") == first.run_id)
    # the same figures, and the tokens the answers cost when they were asked
    for column in ("wer", "quality", "content_kept", "llm_requests", "prompt_tokens"):
        assert rows.sort("config", "item")[column].to_list() == \
            before.sort("config", "item")[column].to_list(), column
    assert (rows["llm_cached"] > 0).sum() >= 4
    summary = read_evaluation_summary(evaluate.root, again.run_id)
    assert {c["baseline_run"] for c in summary["configs"]} == {first.run_id}
    assert run_note(airflow_home, again.run_id) is None  # video_pipeline notes only
    note = _note(airflow_home, again.run_id)
    assert note.startswith("success: 2 configurations, none worse than its baseline")


def test_a_worse_prompt_fails_the_gate_and_says_why(first, evaluate, airflow_home):
    concise = f"prompts: {SHIPPED / 'prompts' / 'concise'}"
    worse = evaluate(configs=CONFIGS.format(prompts=concise))
    assert worse.code == 1, worse.stdout + worse.stderr
    cause = worse.stderr.strip().splitlines()[-1]
    assert cause.startswith("failed:  worse than the baseline: default: ")
    assert "content kept" in cause and "quality" in cause and "sequential-beam1" not in cause
    summary = read_evaluation_summary(evaluate.root, worse.run_id)
    default = next(c for c in summary["configs"] if c["config"] == "default")
    assert default["now"]["content_kept"] < default["baseline"]["content_kept"] - 0.05
    report = Path(summary["report"]).read_text()
    assert "Failed: worse than the baseline" in report
    assert "polish_sentences: concise-1" in report
    # the failing run's rows are kept: the next evaluation compares with them
    table = pl.read_parquet(evaluate.root / "results.parquet")
    assert table.filter(pl.col("run_id") == worse.run_id).height == 6
    assert _note(airflow_home, worse.run_id).startswith("failed: worse than the baseline")


def test_bad_reference_and_configuration_files_are_one_line(evaluate, tmp_path):
    missing = evaluate("--references", str(tmp_path / "nope.yaml"))
    assert missing.code == 1
    assert missing.stderr.strip().splitlines()[-1] == \
        f"failed:  plan: {tmp_path / 'nope.yaml'}: file not found"
    typo = evaluate(configs="configs:\n  - name: x\n    settings: {beam_sise: 2}\n")
    assert typo.code == 1 and "'beam_sise' is not a setting a configuration can change" in \
        typo.stderr
    bad_value = evaluate(configs="configs:\n  - name: x\n    settings: {beam_size: 0}\n")
    assert "beam_size must be at least 1, not 0" in bad_value.stderr
    margin = evaluate("--max-wer-increase", "-1")
    assert margin.code == 2 and margin.stderr.startswith("error: ")
    assert len(margin.stderr.strip().splitlines()) == 1


def test_a_configuration_that_never_worked_fails_its_floors(first, evaluate, airflow_home):
    """A floor no configuration meets (Spanish WER 0.05) fails the gate whatever the
    baseline says, and the note, the report and the exit code say so."""
    floored = "floors:\n  wer: {default: 0.35, es: 0.05}\n" + CONFIGS.format(prompts="")
    run = evaluate(configs=floored)
    assert run.code == 1, run.stdout + run.stderr
    cause = run.stderr.strip().splitlines()[-1]
    assert re.search(r"below its floors: default: es WER 0\.\d+ above its floor 0\.05 \| "
                     r"sequential-beam1: es WER 0\.\d+ above its floor 0\.05", cause), cause
    summary = read_evaluation_summary(evaluate.root, run.run_id)
    assert [len(c["below_floors"]) for c in summary["configs"]] == [1, 1]
    assert all(f[0].startswith("es WER 0.") for f in (c["below_floors"]
                                                      for c in summary["configs"]))
    assert "below its floors" in Path(summary["report"]).read_text()
    assert "below its floors: default: es WER 0." in _note(airflow_home, run.run_id)
    looser = evaluate(configs="floors:\n  wer: {default: 0.35}\n" + CONFIGS.format(prompts=""))
    assert "below its floors" not in looser.stdout + looser.stderr


def _note(airflow_home: Path, run_id: str) -> str | None:
    import sqlite3

    with sqlite3.connect(airflow_home / "airflow.db") as db:
        row = db.execute("SELECT n.content FROM dag_run r JOIN dag_run_note n ON "
                         "n.dag_run_id = r.id WHERE r.dag_id = 'evaluate' AND r.run_id = ?",
                         (run_id,)).fetchone()
    return row[0] if row else None
