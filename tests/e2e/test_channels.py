"""Channel DAGs on a real Airflow (api-server, scheduler and dag-processor on LocalExecutor
and PostgreSQL, as a deployment runs them), following real feeds on 127.0.0.1 whose entries
are short speech clips:

- a scheduled run of a YouTube-style Atom channel triggers exactly its interval's uploads,
  and running the same interval again triggers nothing;
- ``airflow backfill create`` over three days of a podcast feed triggers exactly the episodes
  published in them (one of them already triggered through the other source is skipped),
  and those ``video_pipeline`` runs succeed end to end: documents and rows in the store.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import time
import urllib.parse
from pathlib import Path

import pytest

from scribeflow.core.files import DataPaths, read_json
from scribeflow.index.store.parquet import ParquetStore
from scribeflow.pipeline.ingest_records import ingest_summary_path, video_run_id
from support.airflow import AIRFLOW, login, prepare, service_env, services
from support.feeds import FeedSite, Upload
from support.http import free_port, json_request
from support.media import speech_audio

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
UTC = dt.UTC
TODAY = dt.datetime.combine(dt.datetime.now(UTC).date(), dt.time(), UTC)
YESTERDAY = TODAY - dt.timedelta(days=1)
MARCH = dt.datetime(2026, 3, 1, tzinfo=UTC)

TEXTS = {
    "rain.mp3": "Rain forms when droplets in a cloud grow heavy and fall to the ground.",
    "wind.mp3": "Wind is air that moves from high pressure toward low pressure.",
    "tides.mp3": "The moon pulls on the oceans and makes the tides rise and fall.",
    "stars.mp3": "Stars shine because nuclear fusion in their cores releases energy.",
    "soil.mp3": "Soil is a mix of minerals, water, air and the remains of living things.",
    "ice.mp3": "Glaciers are rivers of ice that carve valleys as they slowly move.",
}


def at(day: dt.datetime, hours: float) -> dt.datetime:
    return day + dt.timedelta(hours=hours)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("channel_site")
    for name, text in TEXTS.items():
        speech_audio(root / name, text)
    site = FeedSite(root)
    # A YouTube-style Atom channel, newest first: today's upload is not yet due, two are
    # yesterday's interval, one is older.
    site.feed("channel.xml", [
        Upload("ice.mp3", "Glaciers &amp; valleys", TODAY + (dt.datetime.now(UTC) - TODAY) / 2),
        Upload("rain.mp3", "How rain forms", at(YESTERDAY, 18)),
        Upload("wind.mp3", "What wind is", at(YESTERDAY, 0)),
        Upload("soil.mp3", "Soil", at(YESTERDAY, -30)),
    ], kind="atom")
    # A podcast, newest first; the backfill covers March 2-4.
    site.feed("podcast.xml", [
        Upload("soil.mp3", "Episode 5 - soil", at(MARCH, 4 * 24 + 1)),       # March 5: after
        Upload("stars.mp3", "Episode 4 - stars", at(MARCH, 3 * 24 + 23.5)),  # March 4
        Upload("wind.mp3", "Episode 3 - wind", at(MARCH, 2 * 24 + 12)),      # March 3
        Upload("tides.mp3", "Episode 2 - tides", at(MARCH, 1 * 24)),         # March 2, 00:00
        Upload("ice.mp3", "Episode 1 - ice", at(MARCH, 23.9)),               # March 1: before
    ], page_size=2)
    yield site
    site.close()


@pytest.fixture(scope="module")
def airflow(tmp_path_factory, site):
    work = tmp_path_factory.mktemp("airflow_channels")
    sources = work / "channels.yaml"
    sources.write_text(f"""
defaults:
  max_per_run: 5
sources:
  - name: science
    url: {site.url("channel.xml")}
    schedule: "@daily"
    start_date: {YESTERDAY.date()}
    end_date: {YESTERDAY.date()}  # one interval, even if the test runs across midnight
  - name: gone
    url: {site.url("gone.xml")}
    schedule: "@daily"
    start_date: {YESTERDAY.date()}
    end_date: {YESTERDAY.date()}
  - name: podcast
    url: {site.url("podcast.xml")}
    schedule: "@daily"
    start_date: {MARCH.date()}
    catchup: false
""")
    api_port = free_port()
    database = metadata_database()
    env = service_env(
        work / "home", api_port=api_port, executor="LocalExecutor",
        database=f"postgresql+psycopg2://postgres@127.0.0.1:5432/{database}",
        AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC="2",
        AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL="5",
        SCRIBEFLOW_DATA=str(work / "data"),
        SCRIBEFLOW_CHANNELS=str(sources),
        SCRIBEFLOW_LANGUAGE="en",  # English channels: the bundled tiny.en
        SCRIBEFLOW_TRANSCRIBE_QUEUE="default",
        SCRIBEFLOW_DOWNLOAD_POOLS="127.0.0.1=downloads_local",
        SCRIBEFLOW_CHUNK_WORDS="40",
    )
    prepare(env, pools=("llm", "downloads", "downloads_local"))
    commands = {name: [name] for name in ("api-server", "scheduler", "dag-processor")}
    try:
        with services(commands, env, work) as (processes, logs):
            base = f"http://127.0.0.1:{api_port}"
            api = Api(base, login(base, work / "home", processes, logs))
            api.wait_for_dags(["video_pipeline", "channel__science", "channel__podcast"])
            yield {"api": api, "env": env, "data": DataPaths(work / "data"), "logs": logs}
    finally:
        drop_database(database)


def metadata_database() -> str:
    """A new database on the machine's PostgreSQL for this module's deployment. Not SQLite:
    ``airflow backfill create`` beside a busy scheduler got "database is locked" from SQLite
    on a loaded machine, and Airflow's clean-up then deleted the runs the scheduler was
    creating task instances for, which stopped the scheduler (FOREIGN KEY constraint failed,
    then ObjectDeletedError in ``_schedule_all_dag_runs``): every later test of the module
    waited for runs that never came."""
    import uuid

    import psycopg

    name = f"sf_channels_{uuid.uuid4().hex[:8]}"
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as c:
        c.execute(f"CREATE DATABASE {name}")
    return name


def drop_database(name: str) -> None:
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as c:
        c.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


class Api:
    def __init__(self, base: str, token: str):
        self.base, self.token = base, token

    def get(self, path: str) -> dict:
        status, body = json_request(f"{self.base}/api/v2/{path}", self.token)
        assert status == 200, (path, status, body)
        return body

    def call(self, method: str, path: str, data: dict) -> dict:
        import urllib.request

        req = urllib.request.Request(f"{self.base}/api/v2/{path}", method=method,
                                     data=json.dumps(data).encode(),
                                     headers={"Authorization": f"Bearer {self.token}",
                                              "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as response:
            return json.loads(response.read() or b"{}")

    def wait_for_dags(self, dag_ids: list[str], timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while True:
            status, body = json_request(f"{self.base}/api/v2/dags?limit=100", self.token)
            found = {d["dag_id"] for d in body.get("dags", [])} if status == 200 else set()
            if set(dag_ids) <= found:
                return
            assert time.monotonic() < deadline, f"DAGs not parsed: {set(dag_ids) - found}"
            time.sleep(2)

    def runs(self, dag_id: str) -> list[dict]:
        return self.get(f"dags/{dag_id}/dagRuns?limit=100")["dag_runs"]

    def wait_for_runs(self, dag_id: str, run_ids: set[str] | None = None, count: int = 0,
                      timeout: float = 420) -> list[dict]:
        """Wait until the named runs (or ``count`` runs) exist and are all finished."""
        deadline = time.monotonic() + timeout
        while True:
            runs = self.runs(dag_id)
            chosen = [r for r in runs if run_ids is None or r["dag_run_id"] in run_ids]
            enough = len(chosen) >= (len(run_ids) if run_ids is not None else count)
            if enough and all(r["state"] in ("success", "failed") for r in chosen):
                return chosen
            assert time.monotonic() < deadline, [(r["dag_run_id"], r["state"]) for r in runs]
            time.sleep(3)

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        quoted = urllib.parse.quote(run_id, safe="")
        return self.get(f"dags/{dag_id}/dagRuns/{quoted}/taskInstances")["task_instances"]


def keys(site: FeedSite, feed: str, *media: str, atom: bool = False) -> set[str]:
    """The run ids of ``media``'s entries in ``feed``: keyed on the feed and each entry's guid
    (the Atom channel's ``yt:video:vidNNNN`` in upload order, the podcast's the file name)."""
    from scribeflow.sources.listing import feed_entry_key

    if atom:
        order = ["ice", "rain", "wind", "soil"]
        return {video_run_id(feed_entry_key(site.url(feed), f"yt:video:vid{order.index(m):04d}",
                                            site.url(m + ".mp3"))) for m in media}
    return {video_run_id(site.key(feed, m + ".mp3")) for m in media}


def assert_processed(data: DataPaths, api: Api, run_ids: set[str]) -> None:
    runs = api.wait_for_runs("video_pipeline", run_ids)
    assert {r["dag_run_id"]: r["state"] for r in runs} == dict.fromkeys(run_ids, "success")
    stored = ParquetStore(data.parquet_store).video_ids()
    for run_id in run_ids:
        video = data.video(run_id.removeprefix("ingest__"))
        assert video.document.read_text().strip(), run_id
        assert run_id.removeprefix("ingest__") in stored


def test_a_scheduled_run_triggers_its_interval_once(airflow, site):
    api, data = airflow["api"], airflow["data"]
    api.call("PATCH", "dags/channel__science", {"is_paused": False})
    (run,) = api.wait_for_runs("channel__science", count=1)
    assert run["run_type"] == "scheduled" and run["state"] == "success", run
    assert run["data_interval_start"].startswith(str(YESTERDAY.date()))
    summary = read_json(ingest_summary_path(data, "science", run["dag_run_id"]))
    expected = keys(site, "channel.xml", "rain", "wind", atom=True)
    assert set(summary["triggered"]) == expected and summary["status"] == "success"
    assert summary["outside_window"] == 2 and summary["found"] == 4
    assert_processed(data, api, expected)
    # the channel run's note says what its listing found and what became of it
    (channel_run,) = api.runs("channel__science")
    assert channel_run["note"] == ("Result: success: 4 listed, 2 triggered, "
                                   "2 outside the window"), channel_run["note"]
    notes = {r["dag_run_id"]: r["note"] for r in api.runs("video_pipeline")}
    # the trigger's note, then the outcome the listener added when the scheduler ended the run
    # (no title line: the trigger's note names the video), and its results page
    (rain,) = keys(site, "channel.xml", "rain", atom=True)
    trigger, outcome, page = notes[rain].split("\n")
    assert trigger == f"channel__science: How rain forms (published {YESTERDAY.date()} 18:00 UTC)"
    assert re.fullmatch(r"Result: success: \d+ chunks?, \d+ rows? stored", outcome), outcome
    rain_id = rain.removeprefix("ingest__")
    assert page.startswith(f"Results page: [/scribeflow/videos/{rain_id}](/scribeflow/videos/"
                           f"{rain_id}?run="), page
    # the trigger task's instances are labelled by the run they triggered
    labels = {t["rendered_map_index"] for t in api.task_instances(
        "channel__science", run["dag_run_id"]) if t["task_id"] == "trigger_video_pipeline"}
    assert labels == expected
    # the downloads went through the site's own pool
    pools = {t["pool"] for rid in expected for t in api.task_instances("video_pipeline", rid)
             if t["task_id"] == "download"}
    assert pools == {"downloads_local"}
    # the same interval again: nothing new to trigger
    api.call("POST", "dags/channel__science/clearTaskInstances",
             {"dag_run_id": run["dag_run_id"], "dry_run": False, "only_failed": False,
              "reset_dag_runs": True})
    time.sleep(3)
    (again,) = api.wait_for_runs("channel__science", count=1)
    assert again["state"] == "success"
    summary = read_json(ingest_summary_path(data, "science", run["dag_run_id"]))
    assert summary["to_trigger"] == [] and summary["triggered"] == []
    assert summary["skipped"] == {"triggered": 2}
    assert len(api.runs("video_pipeline")) == 2


def test_a_backfill_triggers_exactly_its_window(airflow, site):
    api, data, env = airflow["api"], airflow["data"], airflow["env"]
    api.call("PATCH", "dags/channel__podcast", {"is_paused": False})
    # The REST API (and the UI's Backfill dialog, which calls it) plans the same runs.
    planned = api.call("POST", "backfills/dry_run", {
        "dag_id": "channel__podcast", "from_date": "2026-03-02T00:00:00Z",
        "to_date": "2026-03-04T00:00:00Z"})
    assert [b["logical_date"][:10] for b in planned["backfills"]] == [
        "2026-03-02", "2026-03-03", "2026-03-04"]
    created = subprocess.run([AIRFLOW, "backfill", "create", "--dag-id", "channel__podcast",
                              "--from-date", "2026-03-02", "--to-date", "2026-03-04"],
                             env=env, capture_output=True, text=True, timeout=120)
    assert created.returncode == 0, created.stdout + created.stderr
    deadline = time.monotonic() + 300
    while True:
        backfill = [r for r in api.runs("channel__podcast") if r["run_type"] == "backfill"]
        if len(backfill) == 3 and all(r["state"] in ("success", "failed") for r in backfill):
            break
        assert time.monotonic() < deadline, [(r["dag_run_id"], r["state"]) for r in backfill]
        time.sleep(3)
    assert {r["state"] for r in backfill} == {"success"}
    assert sorted(r["logical_date"][:10] for r in backfill) == [
        "2026-03-02", "2026-03-03", "2026-03-04"]
    triggered, skipped, requests = set(), {}, []
    for run in backfill:
        summary = read_json(ingest_summary_path(data, "podcast", run["dag_run_id"]))
        triggered |= set(summary["triggered"])
        requests.append(summary["listing_requests"])
        for reason, n in summary["skipped"].items():
            skipped[reason] = skipped.get(reason, 0) + n
    # wind.mp3 is an episode of this podcast too: keyed on this feed and its guid, it is a
    # video of its own (as podcast apps see it), not the channel's entry
    assert triggered == keys(site, "podcast.xml", "tides", "stars", "wind") and skipped == {}
    # three pages of two; every run stops paging once it is past its day
    assert max(requests) <= 3, requests
    assert_processed(data, api, triggered)


def test_a_source_whose_feed_is_gone_fails_its_run_with_the_cause(airflow):
    api, data = airflow["api"], airflow["data"]
    api.call("PATCH", "dags/channel__gone", {"is_paused": False})
    (run,) = api.wait_for_runs("channel__gone", count=1)
    assert run["state"] == "failed", run
    summary = read_json(ingest_summary_path(data, "gone", run["dag_run_id"]))
    cause = summary["error"]["cause"]
    assert summary["status"] == "failed"
    assert cause.startswith("feed not found: ") and "HTTP Error 404" in cause
    states = {t["task_id"]: t["state"] for t in api.task_instances("channel__gone",
                                                                   run["dag_run_id"])}
    assert states["list_new_videos"] == "failed" and states["record_triggers"] == "failed"
    quoted = urllib.parse.quote(run["dag_run_id"], safe="")
    status, log = json_request(f"{api.base}/api/v2/dags/channel__gone/dagRuns/{quoted}/"
                               "taskInstances/list_new_videos/logs/1?full_content=true",
                               api.token)
    text = json.dumps(log)
    assert status == 200 and cause in text
    # the cause alone: no traceback of Airflow's frames (structured as error_detail)
    assert "error_detail" not in text and "Traceback" not in text, text[-2000:]


def test_the_same_video_twice_at_once_ends_as_one_run(airflow, site):
    """Two runs of one video at the same time (a double-click in the UI, or ingestion and a
    manual trigger) leave the artifacts and the store as one run does."""
    api, data = airflow["api"], airflow["data"]
    url = site.url("soil.mp3")
    run_ids = {f"twice__{n}" for n in "ab"}
    # both runs wait queued on the paused DAG, so the scheduler starts them together (one
    # POST after the other let the first run finish before the second started, once)
    api.call("PATCH", "dags/video_pipeline", {"is_paused": True})
    for run_id in sorted(run_ids):
        api.call("POST", "dags/video_pipeline/dagRuns",
                 {"dag_run_id": run_id, "logical_date": None, "conf": {"url": url}})
    api.call("PATCH", "dags/video_pipeline", {"is_paused": False})
    runs = api.wait_for_runs("video_pipeline", run_ids)
    assert {r["state"] for r in runs} == {"success"}, runs
    spans = []
    for run_id in sorted(run_ids):
        tasks = api.task_instances("video_pipeline", run_id)
        # a collision between the runs shows as a failed first try (the span below would
        # then measure the retry, which starts after the other run ended)
        assert {t["task_id"]: t["try_number"] for t in tasks if t["try_number"] > 1} == {}, run_id
        spans.append((min(t["start_date"] for t in tasks if t["start_date"]),
                      max(t["end_date"] for t in tasks if t["end_date"])))
    (a_start, a_end), (b_start, b_end) = spans
    assert a_start < b_end and b_start < a_end, f"the runs did not overlap: {spans}"
    video = data.video("generic-soil")
    chunks = read_json(video.document_chunks)
    import polars as pl

    rows = pl.read_parquet(data.parquet_store / "*.parquet").filter(pl.col("video_id") == "generic-soil")
    assert rows.height == rows["id"].n_unique() > 0
    assert sorted(set(rows["chunk_index"].to_list())) == list(range(len(chunks)))
    for chunk in range(len(chunks)):
        units = sorted(rows.filter(pl.col("chunk_index") == chunk)["unit_index"].to_list())
        assert units == list(range(len(units)))
    transcript = read_json(video.transcript)
    assert transcript["segments"] and "soil" in video.document.read_text().lower()


def test_the_digest_runs_on_the_library_asset_period_after_period(airflow):
    """Each stored video updated the library's asset (its id, source and language in the
    event); the digest DAG, scheduled on it, ran after them: its periods follow each other
    and together list every stored video, each once, under its source."""
    api, data = airflow["api"], airflow["data"]
    stored = {p.name for p in (data.root / "videos").iterdir() if (p / "stored.json").exists()}
    assert len(stored) >= 6, stored
    (library,) = api.get("assets?name_pattern=scribeflow_library")["assets"]
    events = api.get(f"assets/events?asset_id={library['id']}&limit=100")["asset_events"]
    assert {e["extra"]["video_id"] for e in events} == stored
    assert {e["extra"]["source"] for e in events} == {"science", "podcast", None}
    assert {e["extra"]["language"] for e in events} == {"en"}
    assert {(e["source_dag_id"], e["source_task_id"]) for e in events} == {
        ("video_pipeline", "embed_and_upsert")}
    # the UI's schedule of the digest DAG: the asset, or Mondays at 07:00
    digest = api.get("dags/digest")
    assert (digest["timetable_summary"], digest["timetable_description"]) == (
        "Asset or 0 7 * * 1", "Triggered by assets or At 07:00, only on Monday")
    # the digest runs the events triggered (none may be left queued or running)
    deadline = time.monotonic() + 300
    while True:
        runs = api.runs("digest")
        status, body = json_request(f"{api.base}/api/v2/dags/digest/assets/queuedEvents",
                                    api.token)
        queued = body.get("queued_events", []) if status == 200 else []  # 404: none
        if runs and not queued and all(r["state"] in ("success", "failed") for r in runs):
            break
        assert time.monotonic() < deadline, [(r["dag_run_id"], r["state"]) for r in runs]
        time.sleep(3)
    # the asset's runs, and the timetable's latest Monday, run when the DAG first appeared
    assert "asset_triggered" in {r["run_type"] for r in runs}
    assert {r["run_type"] for r in runs} <= {"asset_triggered", "scheduled"}
    assert {r["state"] for r in runs} == {"success"}
    periods = read_json(data.root / "digests" / "periods.json")["periods"]
    assert len(periods) >= 2 and periods[0]["start"] is None
    assert all(b["start"] == a["end"] for a, b in zip(periods, periods[1:], strict=False))
    listed: list[str] = []
    for period in periods:
        markdown = (data.root / "digests" / period["end"].replace(":", "-") / "digest.md"
                    ).read_text()
        found = re.findall(r"/scribeflow/videos/([\w-]+)\)", markdown.split("\n## ", 1)[-1])
        listed += found
        # these runs had no LLM; a period without videos says so
        assert ("*No abstract: no LLM configured.*" if found else
                "*No videos were stored in this period.*") in markdown
    assert sorted(set(listed)) == sorted(stored) and len(listed) == len(set(listed)) * 2
    notes = [r["note"] for r in runs if r["note"]]
    assert any(n.startswith("Result: ") and "videos stored" in n for n in notes), notes
