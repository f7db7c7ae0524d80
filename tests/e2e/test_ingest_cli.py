"""``scribeflow ingest``: a channel, playlist or feed in one go, through the same decisions
and run ids as the channel DAGs, against real feeds and media on 127.0.0.1."""

from __future__ import annotations

import datetime as dt
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from e2e.conftest import SCRIBEFLOW

from scribeflow.core.files import DataPaths, read_json
from scribeflow.index.store.parquet import ParquetStore
from scribeflow.pipeline.ingest_records import SourceState, state_path, video_run_id
from support.airflow import clean_env
from support.disk import digests
from support.feeds import FeedSite, Route, Upload
from support.media import speech_audio

pytestmark = pytest.mark.e2e
WARM_HOSTS = True  # its runs go to the session's model host and run host
UTC = dt.UTC
DAY = dt.datetime(2025, 5, 10, 9, tzinfo=UTC)
COOKIE_VALUE = "s3cr3t-c00kie-4f9a"
COOKIES = ("# Netscape HTTP Cookie File\n"
           f"127.0.0.1\tFALSE\t/\tFALSE\t2145916800\tsession\t{COOKIE_VALUE}\n")
TEXTS = {
    "one.mp3": "The first episode explains how bees make honey from nectar.",
    "two.mp3": "The second episode explains why leaves change colour in autumn.",
    "three.mp3": "The third episode explains how bridges carry heavy loads.",
    "four.mp3": "The fourth episode explains how a compass finds north.",
}


@dataclass(frozen=True)
class Outcome:
    code: int
    output: str


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("ingest_site")
    for name, text in TEXTS.items():
        speech_audio(root / name, text)
    site = FeedSite(root)
    yield site
    site.close()


@pytest.fixture(scope="module")
def ingest(airflow_home):
    def run(*args: str, data: Path, extra_env: dict | None = None) -> Outcome:
        env = clean_env(AIRFLOW_HOME=str(airflow_home),
                        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{airflow_home}/airflow.db?timeout=30",
                        SCRIBEFLOW_DATA=str(data),
                        SCRIBEFLOW_LANGUAGE="en") | (extra_env or {})  # English feeds
        proc = subprocess.run([SCRIBEFLOW, "ingest", *args], env=env, capture_output=True,
                              text=True, timeout=900)
        return Outcome(proc.returncode, proc.stdout + proc.stderr)

    return run


def lines_with(output: str, text: str) -> list[str]:
    return [line for line in output.splitlines() if text in line]


def test_a_playlist_page_dry_run_then_processed(site, ingest, tmp_path):
    url = site.page("lessons.html", [Upload("one.mp3", "One", None),
                                     Upload("two.mp3", "Two", None)])
    outcome = ingest(url, "--dry-run", "--limit", "1", data=tmp_path)
    assert outcome.code == 0, outcome.output
    assert len(lines_with(outcome.output, "trigger  generic-one")) == 1
    (deferred,) = lines_with(outcome.output, "defer    generic-two")
    assert "max_per_run: over this run's limit of 1" in deferred and deferred.startswith("undated")
    assert "found 2 entries in 2 listing requests; 1 to process" in outcome.output
    assert not (tmp_path / "videos").exists() and not (tmp_path / "sources").exists()
    # for real: the page's first medium is processed, the other waits for the next run
    processed = ingest(url, "--limit", "1", data=tmp_path)
    assert processed.code == 0, processed.output
    assert lines_with(processed.output, f"success  {video_run_id('generic-one')}")
    data = DataPaths(tmp_path)
    assert data.video("generic-one").document.read_text().strip()
    assert ParquetStore(data.parquet_store).video_ids() == {"generic-one"}
    (state,) = (tmp_path / "sources").glob("*/state.json")
    assert list(read_json(state)["pending"]) == [video_run_id("generic-two")]


def test_a_feed_window_is_processed_once_with_cookies_kept_secret(site, ingest, tmp_path):
    uploads = [Upload(name, f"Episode - {name[:-4]}", DAY - dt.timedelta(days=n))
               for n, name in enumerate(TEXTS)]
    url = site.feed("private.xml", uploads, cookie=f"session={COOKIE_VALUE}")
    for name in TEXTS:  # the media need the cookie too
        site.routes[name] = Route(body=lambda q, n=name: ((site.root / n).read_bytes(),
                                                          "audio/mpeg"),
                                  cookie=f"session={COOKIE_VALUE}")
    try:
        check_feed_window_with_cookies(site, ingest, tmp_path, url)
    finally:
        for name in TEXTS:
            site.routes.pop(name)


def check_feed_window_with_cookies(site, ingest, tmp_path, url):
    cookies = tmp_path / "cookies.txt"
    cookies.write_text(COOKIES)
    data = DataPaths(tmp_path / "data")
    denied = ingest(url, data=data.root)
    assert denied.code == 2 and "error: access denied to " in denied.output
    args = (url, "--since", "2025-05-08", "--until", "2025-05-09", "--cookies", str(cookies))
    first = ingest(*args, data=data.root)
    assert first.code == 0, first.output
    feed = url.rsplit("/", 1)[1]
    two, three = site.key(feed, "two.mp3"), site.key(feed, "three.mp3")
    expected = {video_run_id(two), video_run_id(three)}
    assert {line.split()[1] for line in lines_with(first.output, "success  ingest__")} == expected
    assert "2 processed, 0 failed, 0 already done" in first.output
    assert ParquetStore(data.parquet_store).video_ids() == {two, three}
    for run_id in expected:
        summary = read_json(data.run_summary(run_id))
        assert summary["status"] == "success" and summary["source"].startswith("cli-127-0-0-1-")
    # two runs: the ingest's own run host forked both, Airflow imported once, the cookie
    # connection given to each run in its environment
    run_logs = [p.read_text() for p in (data.root / "logs").glob("run-*.log")]
    assert len(run_logs) == 2 and all(log.startswith("run host: this run is process")
                                      for log in run_logs), [log[:300] for log in run_logs]
    before = digests(data.store_dir)
    again = ingest(*args, data=data.root)
    assert again.code == 0, again.output
    assert len(lines_with(again.output, "triggered: already triggered (success)")) == 2
    assert "0 processed, 0 failed, 0 already done" in again.output
    assert digests(data.store_dir) == before
    # the cookie reached the site and no file the run wrote
    assert any(COOKIE_VALUE in c for c in site.cookies_seen)
    leaked = [p for p in data.root.rglob("*") if p.is_file()
              and COOKIE_VALUE.encode() in p.read_bytes()]
    assert leaked == []


def test_a_block_backs_off_and_the_video_is_processed_after_the_cooldown(site, ingest,
                                                                          tmp_path):
    site.feed("blocked.xml", [Upload("four.mp3", "Compass", DAY)])
    site.routes["four.mp3"] = Route(status=429)
    sources = tmp_path / "channels.yaml"
    sources.write_text(f"sources:\n  - name: blocky\n    url: {site.url('blocked.xml')}\n"
                       "    schedule: '@daily'\n    start_date: 2025-01-01\n    cooldown: 15s\n")
    data = DataPaths(tmp_path / "data")
    env = {"SCRIBEFLOW_CHANNELS": str(sources)}
    four = site.key("blocked.xml", "four.mp3")
    run_id = video_run_id(four)
    blocked = ingest("blocky", data=data.root, extra_env=env)
    assert blocked.code == 1
    (line,) = lines_with(blocked.output, f"failed   {run_id}")
    assert "(blocked by 127.0.0.1: " in line and "HTTP Error 429: Too Many Requests" in line
    assert read_json(data.run_summary(run_id))["error"]["kind"] == "blocked"
    assert set(SourceState.load(state_path(data, "blocky")).pending) == {run_id}
    waiting = ingest("blocky", data=data.root, extra_env=env)
    assert waiting.code == 0, waiting.output
    (line,) = lines_with(waiting.output, f"defer    {four}")
    assert "backoff: 127.0.0.1 blocked us: waiting until" in line
    del site.routes["four.mp3"]
    blocked_at = dt.datetime.fromisoformat(read_json(data.root / "blocks" / "127.0.0.1.json")["at"])
    time.sleep(max(0.0, (blocked_at + dt.timedelta(seconds=15.5)
                         - dt.datetime.now(UTC)).total_seconds()))
    retried = ingest("blocky", data=data.root, extra_env=env)
    assert retried.code == 0, retried.output
    assert lines_with(retried.output, f"retry    {four}")
    assert lines_with(retried.output, f"success  {run_id}")
    assert SourceState.load(state_path(data, "blocky")).pending == {}
    assert ParquetStore(data.parquet_store).video_ids() == {four}


def test_scribeflow_run_points_a_playlist_to_ingest(site, run_pipeline, tmp_path):
    url = site.page("two.html", [Upload("one.mp3", "1", None), Upload("two.mp3", "2", None)])
    media_hits = site.hits["one.mp3"] + site.hits["two.mp3"]
    outcome = run_pipeline(url, tmp_path)
    assert outcome.code == 1
    assert "is a playlist; give one video URL per run" in outcome.line("error")
    assert site.hits["one.mp3"] + site.hits["two.mp3"] == media_hits, "refused before download"
    assert outcome.line("hint").startswith(f"to process a channel, playlist or feed: "
                                           f"scribeflow ingest {url}")



def test_two_feeds_whose_media_share_a_file_name_are_both_stored(site, ingest, run_pipeline,
                                                                 airflow_home, tmp_path):
    """Two shows' episode1.mp3 are two videos. A store from before feed entries were keyed on
    their feed and guid (the first show's episode under generic-episode1, as `scribeflow run`
    of its media still stores it) is moved once by `scribeflow migrate-ids`, with the same
    rows, and the first show's episode is not processed again."""
    for show, text in (("a", "Bees make honey from the nectar of flowers."),
                       ("b", "A compass needle turns to point at magnetic north.")):
        (site.root / show).mkdir(exist_ok=True)
        speech_audio(site.root / show / "episode1.mp3", text)
    first = site.feed("show_a.xml", [Upload("a/episode1.mp3", "Honey", DAY)])
    second = site.feed("show_b.xml", [Upload("b/episode1.mp3", "Compass", DAY)])
    data = DataPaths(tmp_path / "data")
    old = run_pipeline(site.url("a/episode1.mp3"), data.root)
    assert old.code == 0, old.output
    store = ParquetStore(data.parquet_store)
    assert store.video_ids() == {"generic-episode1"}
    rows = [(r.text, r.start, r.content_hash) for r in store.video_rows("generic-episode1")]
    env = clean_env(AIRFLOW_HOME=str(airflow_home), SCRIBEFLOW_DATA=str(data.root))

    def migrate(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([SCRIBEFLOW, "migrate-ids", *args], env=env, capture_output=True,
                              text=True, timeout=300)

    key_a, key_b = site.key("show_a.xml", "a/episode1.mp3"), site.key("show_b.xml",
                                                                      "b/episode1.mp3")
    moved = migrate(first, second)
    assert moved.returncode == 0, moved.stderr
    assert f"moved generic-episode1 -> {key_a} ({len(rows)} rows)" in moved.stdout
    assert store.video_ids() == {key_a}
    assert [(r.text, r.start, r.content_hash) for r in store.video_rows(key_a)] == rows
    again = migrate(first, second)
    assert again.returncode == 0 and f"0 videos moved; {len(rows)} rows" in again.stdout
    for feed in (first, second):
        outcome = ingest(feed, data=data.root)
        assert outcome.code == 0, outcome.output
    assert store.video_ids() == {key_a, key_b}
    assert "honey" in " ".join(r.text for r in store.video_rows(key_a)).lower()
    assert "compass" in " ".join(r.text for r in store.video_rows(key_b)).lower()
    assert not data.video("generic-episode1").root.exists()
    bad = migrate("nowhere-source")
    assert bad.returncode == 2 and bad.stderr.strip().startswith("error: ")


BAD = [
    ("feed-404", lambda s: s.url("nowhere.xml"), 2,
     "error: feed not found: {url} answered HTTP Error 404: File not found"),
    ("malformed", lambda s: s.serve("bad.xml", lambda q: "<rss><channel><item><title>x"
                                    "</item></channel>"), 2,
     "error: malformed feed XML at {url}: mismatched tag: line 1, column 30"),
    ("not-a-feed", lambda s: s.serve("about.html", lambda q: "<html><body><p>About us</p>"
                                     "</body></html>", "text/html"), 2,
     "error: no feed or playlist at {url}: it is not RSS or Atom (text/html) and yt-dlp "
     "found no videos in it"),
    ("empty-feed", lambda s: s.feed("empty.xml", []), 0, "warning: {url} lists no entries"),
    ("media-404", lambda s: s.feed("gone.xml", [Upload("missing.mp3", "Gone", DAY)]), 1,
     "HTTP Error 404"),
]


@pytest.mark.parametrize(("name", "make", "code", "cause"), BAD, ids=[b[0] for b in BAD])
def test_bad_feeds_get_a_one_line_cause_and_lose_nothing(site, ingest, tmp_path, name, make,
                                                         code, cause):
    data = DataPaths(tmp_path / "data")
    stocked_store(data)
    before = digests(data.store_dir)
    url = make(site)
    outcome = ingest(url, data=data.root)
    assert outcome.code == code, outcome.output
    (line,) = lines_with(outcome.output, cause.format(url=url))
    assert "Traceback" not in outcome.output
    summaries = list((data.root / "runs").glob("channel__*/*/summary.json"))
    if code == 2:  # the listing failed: its cause is in the ingest summary
        (summary,) = summaries
        assert read_json(summary)["error"]["cause"] in line
    if name == "media-404":
        (summary,) = summaries
        missing = video_run_id(site.key("gone.xml", "missing.mp3"))
        assert read_json(summary)["failed"] == [missing]
        run = read_json(data.run_summary(missing))
        assert "HTTP Error 404" in run["error"]["cause"] and run["error"]["kind"] == "bad_input"
    assert digests(data.store_dir) == before


def stocked_store(data: DataPaths) -> None:
    """A store that already holds a video (real rows, a small vector)."""
    from scribeflow.core.records import ChunkRow
    from scribeflow.pipeline.rows import chunk_id

    rows = [ChunkRow(id=chunk_id("kept", i, 0), video_id="kept", chunk_index=i, unit_index=0,
                     start=float(i), end=i + 1.0, text=f"kept text {i}", title="Kept",
                     channel=None, upload_date=None, language="en", url=f"http://x#t={i}",
                     model="m", vector=[1.0, float(i), 0.0]) for i in range(3)]
    ParquetStore(data.parquet_store).upsert_video("kept", rows)


def test_unknown_sources_and_a_broken_sources_file(ingest, tmp_path):
    sources = tmp_path / "channels.yaml"
    sources.write_text("sources:\n  - {name: good, url: 'https://example.org/f.xml', "
                       "schedule: '@daily', start_date: 2025-01-01}\n"
                       "  - {name: bad, url: 'https://example.org/g.xml', schedule: 'daily', "
                       "start_date: 2025-01-01}\n")
    env = {"SCRIBEFLOW_CHANNELS": str(sources)}
    unknown = ingest("nope", data=tmp_path, extra_env=env)
    assert unknown.code == 2
    assert unknown.output.strip() == (f"error: unknown source 'nope'; the sources in {sources} "
                                      "are: good")
    broken = ingest("bad", data=tmp_path, extra_env=env)
    assert broken.code == 2
    assert broken.output.strip().startswith(f"error: {sources}: sources[1] 'bad': schedule: "
                                            "'daily' is not a five-field cron expression")
    dates = ingest("https://example.org/f.xml", "--since", "May 1", data=tmp_path)
    assert dates.output.strip() == "error: --since must be a date (YYYY-MM-DD), not 'May 1'"


def test_with_the_data_on_object_storage_the_listing_state_is_in_the_bucket(site, ingest, s3,
                                                                             tmp_path):
    """``scribeflow ingest`` keeps the source's state and its summary in the bucket, as the
    channel DAGs do, and leaves nothing in this host's folder."""
    url = site.feed("bucket.xml", [Upload("four.mp3", "Compass", DAY)])
    bucket = s3.new_bucket()
    env = {"AIRFLOW_CONN_SCRIBEFLOW_DATA": s3.connection(),
           "SCRIBEFLOW_WORKDIR": str(tmp_path / "host")}
    outcome = ingest(url, "--since", "2025-06-01", data=f"s3://{bucket}/data", extra_env=env)
    assert outcome.code == 0, outcome.output
    assert "0 to process" in outcome.output and "outside the window 1" in outcome.output
    (line,) = lines_with(outcome.output, "summary: ")
    assert line.split("summary: ")[1].startswith(f"s3://{bucket}/data/runs/channel__cli-")
    keys = s3.keys(bucket)
    assert [k for k in keys if k.startswith("data/sources/") and k.endswith("/state.json")], keys
    assert len([k for k in keys if k.startswith("data/runs/channel__cli-")]) == 1, keys
    assert [p for p in (tmp_path / "host").rglob("*") if p.is_file()] == []
