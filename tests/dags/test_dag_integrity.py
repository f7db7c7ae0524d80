"""Every DAG file imports cleanly and follows the project's policies."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DAG_FILES = sorted((ROOT / "dags").glob("*.py"))

# Airflow reads its configuration on first import: give it a throwaway home first.
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(ROOT / "dags"))


@pytest.fixture(scope="module")
def dagbag(tmp_path_factory):
    os.environ.setdefault("AIRFLOW_HOME", str(tmp_path_factory.mktemp("airflow")))
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(ROOT / "dags"))


@pytest.mark.parametrize("path", DAG_FILES, ids=[p.name for p in DAG_FILES])
def test_dag_file_imports_without_errors(dagbag, path):
    errors = {k: v for k, v in dagbag.import_errors.items() if Path(k) == path}
    assert not errors, errors


def test_dags_follow_policy(dagbag):
    assert dagbag.dags, "no DAGs found"
    for dag_id, dag in dagbag.dags.items():
        assert dag.tags, f"{dag_id} has no tags"
        assert dag.doc_md and len(dag.doc_md) > 100, f"{dag_id} has no doc"
        for task in dag.tasks:
            assert task.retries >= 1, f"{dag_id}.{task.task_id} has no retries"
            # what a task returns is one XCom, not one more per key of a dict (steps.step)
            assert not getattr(task, "multiple_outputs", False), f"{dag_id}.{task.task_id}"


def test_video_pipeline_shape(dagbag):
    dag = dagbag.dags["video_pipeline"]
    order = [t.task_id for t in dag.topological_sort()]
    assert order[:6] == ["download", "transcribe", "find_speakers", "split_into_chunks",
                         "write_document", "assemble_document"]
    assert set(order[6:11]) == {"summarize", "write_chapters", "write_quiz", "score_quality",
                                "translate"}
    assert order[11:] == ["render_outputs", "embed_and_upsert"]
    # the store task updates the library's asset, on which the digest DAG is scheduled
    assert [a.name for a in dag.get_task("embed_and_upsert").outlets] == ["scribeflow_library"]
    # every language's rows are written at once, after the translations
    assert "translate" in dag.get_task("embed_and_upsert").upstream_task_ids
    assert dag.get_task("transcribe").queue == dag.get_task("find_speakers").queue == "cuda"
    for task_id in ("write_document", "summarize", "write_chapters", "write_quiz",
                    "score_quality", "translate"):
        assert dag.get_task(task_id).pool == "llm"
    url = dag.params.get_param("url")
    assert url.schema["type"] == "string" and url.schema["minLength"] == 1
    with pytest.raises(Exception, match="url"):
        dag.params.validate()
    assert dag.params["language"] == "auto" and dag.params["quiz"] is False
    assert dag.params["summary"] is True


def test_digest_is_scheduled_on_the_library_and_weekly(dagbag):
    dag = dagbag.dags["digest"]
    assert [t.task_id for t in dag.topological_sort()] == ["write_digest"]
    timetable = dag.timetable
    assert type(timetable).__name__ == "AssetOrTimeSchedule"
    assert [a.name for a in timetable.asset_condition.objects] == ["scribeflow_library"]
    assert timetable.timetable.expression == "0 7 * * 1"
    assert dag.max_active_runs == 1


def test_evaluate_shape(dagbag):
    dag = dagbag.dags["evaluate"]
    assert [t.task_id for t in dag.topological_sort()] == ["plan", "evaluate_config", "report"]
    assert dag.get_task("evaluate_config").queue == "cuda"  # it runs whisper
    assert dag.params["only"] == [] and dag.params["max_wer_increase"] == 0.02
    with pytest.raises(Exception, match="max_quality_drop"):
        dag.params.update({"max_quality_drop": -1})


def test_video_pipeline_takes_a_transcriber(dagbag):
    param = dagbag.dags["video_pipeline"].params.get_param("transcriber")
    assert param.value == "local" and param.schema["enum"] == ["local", "endpoint"]


@pytest.mark.parametrize("path", DAG_FILES, ids=[p.name for p in DAG_FILES])
def test_parsing_imports_no_heavy_library(path):
    """DAG parsing must stay fast: no model or client library is imported at parse time."""
    code = (
        "import sys, runpy; sys.path.insert(0, {!r}); runpy.run_path({!r});"
        "heavy = [m for m in ('torch', 'faster_whisper', 'sentence_transformers', 'yt_dlp', "
        "'openai', 'polars', 'ctranslate2') if m in sys.modules]; print(heavy)"
    ).format(str(ROOT / "plugins"), str(path))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=os.environ | {"PYTHONPATH": str(ROOT / "plugins")}, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_video_pipeline_downloads_in_the_downloads_pool(dagbag):
    dag = dagbag.dags["video_pipeline"]
    assert dag.get_task("download").pool == "downloads"
    assert dag.params["source"] is None
    assert dag.params["download_sleep_min"] == 0 and dag.params["download_sleep_max"] == 0


def test_the_shipped_sources_file_makes_channel_dags(dagbag):
    channel = dagbag.dags["channel__nasa"]
    assert_channel_dag(channel)
    assert channel.timetable.expression == "0 6 * * *"


def assert_channel_dag(dag):
    from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator

    assert [t.task_id for t in dag.topological_sort()] == [
        "list_new_videos", "trigger_video_pipeline", "record_triggers"]
    trigger = dag.get_task("trigger_video_pipeline")
    assert trigger.operator_class is TriggerDagRunOperator or issubclass(
        trigger.operator_class, TriggerDagRunOperator)
    assert trigger.partial_kwargs["trigger_dag_id"] == "video_pipeline"
    assert trigger.partial_kwargs["skip_when_already_exists"] is True
    assert dag.get_task("record_triggers").trigger_rule == "all_done"
    # catchup is deliberate: missed intervals run after downtime, one at a time
    assert dag.max_active_runs == 1 and dag.is_paused_upon_creation is True
    from airflow.sdk import CronDataIntervalTimetable

    # runs cover real intervals [previous fire, this fire): backfills pick uploads by them
    assert isinstance(dag.timetable, CronDataIntervalTimetable)
    assert "channel" in dag.tags and "Backfills" in dag.doc_md


def test_one_bad_source_is_one_import_error_and_the_rest_load(tmp_path, monkeypatch):
    from airflow.dag_processing.dagbag import DagBag

    sources = tmp_path / "channels.yaml"
    sources.write_text(
        "sources:\n"
        "  - {name: pod, url: 'https://example.org/feed.xml', schedule: '@hourly',"
        " start_date: 2026-01-01}\n"
        "  - {name: broken, url: 'https://example.org/f', schedule: 'every day',"
        " start_date: 2026-01-01}\n"
        "  - {name: weekly, url: 'https://example.org/w', schedule: '0 6 * * 1',"
        " start_date: 2026-01-01, catchup: false}\n")
    monkeypatch.setenv("SCRIBEFLOW_CHANNELS", str(sources))
    bag = DagBag(dag_folder=str(ROOT / "dags"))
    assert {"channel__pod", "channel__weekly", "video_pipeline"} <= set(bag.dags)
    assert "channel__broken" not in bag.dags
    errors = {Path(k).name: v for k, v in bag.import_errors.items()}
    assert list(errors) == ["channels_check.py"]
    assert f"{sources}: sources[1] 'broken': schedule: 'every day' is not a five-field cron" \
        in errors["channels_check.py"]
    assert bag.dags["channel__pod"].catchup is True
    assert bag.dags["channel__weekly"].catchup is False
    for dag_id in ("channel__pod", "channel__weekly"):
        assert_channel_dag(bag.dags[dag_id])


#: a value other than the default for each of video_pipeline's params that are settings
DEPLOYED = {"language": "de", "transcriber": "endpoint", "whisper_model": "base",
            "chunk_words": 60, "summary": False, "quiz": True, "quiz_per_chunk": 3,
            "store": "pgvector"}

AGREEMENT = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
from scribeflow.core.config import PipelineSettings
from scribeflow.cli.doctor import _whisper
from scribeflow.pipeline.transcription import transcribe_options
from scribeflow_airflow.tasks import settings_from_params

bag = DagBag(dag_folder=sys.argv[1])
if bag.import_errors:
    print(json.dumps({"import_errors": [str(e) for e in bag.import_errors.values()]}))
    sys.exit(0)
defaults = {k: bag.dags["video_pipeline"].params[k] for k in json.loads(sys.argv[2])}
run = settings_from_params(defaults)  # a run triggered without these params
explicit = settings_from_params(defaults | {"chunk_words": 80, "language": "fr"})
host = PipelineSettings.from_env()  # what the model host preloads and doctor reports
print(json.dumps({
    "defaults": defaults,
    "run": {k: getattr(run, k) for k in defaults},
    "explicit": [explicit.chunk_words, explicit.language],
    "model_host_agrees": transcribe_options(run) == transcribe_options(host),
    "doctor": _whisper(host).detail,
}))
"""


def _parse_with(env: dict[str, str], tmp_path) -> dict:
    import json

    full = os.environ | {"AIRFLOW_HOME": str(tmp_path), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    full |= env
    out = subprocess.run([sys.executable, "-c", AGREEMENT, str(ROOT / "dags"),
                          json.dumps(list(DEPLOYED))],
                         env=full, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_every_run_setting_defaults_to_the_deployments_and_a_runs_param_wins(tmp_path):
    env = {f"SCRIBEFLOW_{k.upper()}": str(v).lower() if isinstance(v, bool) else str(v)
           for k, v in DEPLOYED.items()}
    seen = _parse_with(env, tmp_path)
    assert seen["defaults"] == DEPLOYED  # the form shows what the deployment sets
    assert seen["run"] == DEPLOYED  # and a run triggered without them uses it
    assert seen["explicit"] == [80, "fr"]  # a run's own params still win
    assert seen["model_host_agrees"]  # the model host preloads the model the runs load
    assert seen["doctor"] == "bundled base on cpu"  # doctor reports it


def test_a_bad_deployment_setting_is_the_dag_files_one_line_import_error(tmp_path):
    seen = _parse_with({"SCRIBEFLOW_CHUNK_WORDS": "lots"}, tmp_path)
    assert any("SCRIBEFLOW_CHUNK_WORDS='lots' is not a whole number" in e
               for e in seen["import_errors"]), seen


def test_the_form_explains_every_param_and_tucks_away_the_rare_ones(dagbag):
    from scribeflow.core.errors import ConfigError
    from scribeflow_airflow.tasks import download_pause

    params = dagbag.dags["video_pipeline"].params
    schema = {name: params.get_param(name).schema for name in params}
    for name, field in schema.items():
        assert field.get("title") and len(params.get_param(name).description or "") > 30, name
    sections = {name: field.get("section") for name, field in schema.items()}
    assert [n for n, s in sections.items() if s is None] == [
        "url", "language", "translate_to", "chunk_words", "summary", "quiz", "quiz_per_chunk"]
    assert {n for n, s in sections.items() if s == "Advanced"} == {
        "transcriber", "whisper_model", "subtitle_chars", "subtitle_lines", "diarize",
        "num_speakers", "min_speakers", "max_speakers", "store", "download_sleep_min",
        "download_sleep_max"}
    # languages are picked from whisper's codes, so a typo cannot be triggered
    assert schema["translate_to"]["items"]["enum"][:3] == ["af", "am", "ar"]
    assert schema["language"]["enum"][:2] == ["auto", "af"]
    assert {n for n, s in sections.items() if s == "Set by channel runs"} == {
        "source", "video_id", "cookies_conn_id"}
    # the pause is two numbers, not a JSON list to edit
    assert schema["download_sleep_min"]["type"] == schema["download_sleep_max"]["type"] == "number"
    # the language help is true for the CPU default: tiny.en for English, base otherwise
    assert "the bundled tiny.en and any other language (or one to detect) with the bundled " \
        "multilingual base" in params.get_param("language").description
    assert download_pause({"download_sleep_min": 2, "download_sleep_max": 9}) == (2.0, 9.0)
    assert download_pause({}) == (0.0, 0.0)
    with pytest.raises(ConfigError, match="^the pause before download cannot be at least 9 s "
                                          "and at most 2 s: download_sleep_min is above"):
        download_pause({"download_sleep_min": 9, "download_sleep_max": 2})


def test_the_forms_choices_and_bounds_are_the_settings(dagbag):
    """The form's enums and bounds come from the settings the tasks and the CLI use, so a
    value the form takes is one the settings take, and one it refuses they refuse too."""
    from scribeflow.core.config import RUN_PARAM_BOUNDS, STORES, TRANSCRIBERS, PipelineSettings
    from scribeflow.core.errors import ConfigError

    params = dagbag.dags["video_pipeline"].params
    schema = {name: params.get_param(name).schema for name in params}
    assert schema["store"]["enum"] == list(STORES)
    assert schema["transcriber"]["enum"] == list(TRANSCRIBERS)
    for name, (low, high) in RUN_PARAM_BOUNDS.items():
        assert (schema[name]["minimum"], schema[name]["maximum"]) == (low, high)
        assert getattr(PipelineSettings.from_env({name: low}), name) == low
        with pytest.raises(ConfigError, match=f"{name} must be from {low} to {high}"):
            PipelineSettings.from_env({name: high + 1})
