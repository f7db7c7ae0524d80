"""Digests: the periods they cover, what they list, their files (Markdown, HTML, Atom read by
a real feed reader's parser), and that the same period gives the same bytes."""

from __future__ import annotations

import datetime as dt
import json

import feedparser
import pytest

from scribeflow.core.errors import BadInputError
from scribeflow.core.files import DataPaths
from scribeflow.library.digest import digest_note, window_digest, write_digest
from scribeflow.library.stored import parse_time, read_stored, record_stored
from scribeflow.serve.library import DigestFiles
from scribeflow.writing.summarize import VideoSummary
from support.videos import GOOD, add_video

BASE = "http://airflow.example:8080/scribeflow"
EVIL = '<script>alert("x")</script>'


def at(day: int, hour: int = 12) -> dt.datetime:
    return dt.datetime(2026, 11, day, hour, tzinfo=dt.UTC)


@pytest.fixture
def data(tmp_path) -> DataPaths:
    data = DataPaths(tmp_path / "data")
    add_video(data, "aaa", at(2), "science", GOOD)
    add_video(data, "bbb", at(3), "podcast", VideoSummary(failed="the LLM could not be "
                                                                  "reached: 503"),
              title=f"Episode {EVIL}")
    add_video(data, "ccc", at(4), None, GOOD, url="file:///media/talk.mp4", channel=None)
    add_video(data, "ddd", at(9), "science", GOOD)  # after the first period
    return data


def test_a_digest_lists_the_periods_videos_per_source_and_overall(data):
    written = write_digest(data, "scheduled__1", at(5), BASE)
    assert written.period.start is None and written.period.end == "2026-11-05T12:00:00Z"
    assert written.videos == 3 and written.sources == ("Your own runs", "podcast", "science")
    assert written.without_summary == (f"Episode {EVIL}: failed: the LLM could not be "
                                       "reached: 503",)
    folder = data.root / "digests" / "2026-11-05T12-00-00Z"
    markdown = (folder / "digest.md").read_text()
    order = [markdown.index(p) for p in ("## podcast", "## science", "## Your own runs")]
    assert order == sorted(order) and "Talk ddd" not in markdown
    assert "### [Talk aaa](http://airflow.example:8080/scribeflow/videos/aaa)" in markdown
    assert "- [00:12](https://www.youtube.com/watch?v=aaa&t=12s) Rivers reach the sea." in markdown
    # a local file's moments open the app's player
    assert "- [00:40](http://airflow.example:8080/scribeflow/watch/ccc?t=40) Clouds" in markdown
    assert "*No abstract: failed: the LLM could not be reached: 503.*" in markdown
    assert "Geo Talks · published 2026-11-01" in markdown
    science = (folder / "science.md").read_text()
    assert "Talk aaa" in science and "Episode" not in science and "## science" not in science
    html = (folder / "digest.html").read_text()
    assert EVIL not in html and "&lt;script&gt;" in html
    assert 'type="application/atom+xml"' in html
    note = digest_note(data, "scheduled__1", "success")
    assert note.startswith("Result: 3 videos stored until 2026-11-05 12:00 UTC, from 3 "
                           "sources; 1 without an abstract\nDigest: [/scribeflow/digests/")


def test_the_feed_is_read_by_a_feed_readers_parser(data):
    write_digest(data, "scheduled__1", at(5), BASE)
    raw = (data.root / "digests" / "feed.atom").read_bytes()
    assert b"<script>" not in raw
    feed = feedparser.parse(raw)
    assert not feed.bozo, feed.bozo_exception
    assert feed.version == "atom10" and feed.feed.title == "Scribeflow: What your channels said"
    assert [e.title for e in feed.entries] == ["Talk ccc", f"Episode {EVIL}", "Talk aaa"]
    aaa = feed.entries[2]
    assert aaa.id == "tag:scribeflow,2024:video/aaa"
    assert aaa.link == "http://airflow.example:8080/scribeflow/videos/aaa"
    assert aaa.summary == GOOD.abstract and aaa.updated == "2026-11-02T12:00:00Z"
    assert "https://www.youtube.com/watch?v=aaa&amp;t=12s" in aaa.content[0].value
    assert [e.summary for e in feed.entries][1].startswith("No abstract: failed:")
    podcast = feedparser.parse((data.root / "digests" / "feed-podcast.atom").read_bytes())
    assert [e.title for e in podcast.entries] == [f"Episode {EVIL}"]


def test_the_next_digest_starts_where_the_last_ended_and_reruns_give_the_same_files(data):
    write_digest(data, "scheduled__1", at(5), BASE)
    first = {p.name: p.read_bytes() for p in (data.root / "digests").rglob("*.*")
             if p.is_file() and "runs" not in p.parts}
    write_digest(data, "scheduled__1", at(6), BASE)  # the same run again: its own period
    again = {p.name: p.read_bytes() for p in (data.root / "digests").rglob("*.*")
             if p.is_file() and "runs" not in p.parts}
    assert again == first
    second = write_digest(data, "scheduled__2", at(10), BASE)
    assert second.period.start == "2026-11-05T12:00:00Z" and second.videos == 1
    feed = feedparser.parse((data.root / "digests" / "feed.atom").read_bytes())
    assert feed.entries[0].title == "Talk ddd" and len(feed.entries) == 4  # the latest period


def test_a_run_of_new_videos_that_finds_none_writes_nothing_and_an_empty_week_says_so(data):
    write_digest(data, "scheduled__1", at(10), BASE)
    skipped = write_digest(data, "asset_triggered__1", at(11), BASE, scheduled=False)
    assert skipped.skipped.startswith("no video was stored since the last digest")
    assert not (data.root / "digests" / "2026-11-11T12-00-00Z").exists()
    assert digest_note(data, "asset_triggered__1", "success").startswith("Result: nothing new")
    empty = write_digest(data, "scheduled__2", at(17), BASE)
    assert empty.videos == 0 and empty.skipped is None
    markdown = (data.root / "digests" / "2026-11-17T12-00-00Z" / "digest.md").read_text()
    assert "Videos stored 2026-11-10 12:00 UTC to 2026-11-17 12:00 UTC: 0." in markdown
    assert "*No videos were stored in this period.*" in markdown
    late = write_digest(data, "scheduled__late", at(12), BASE)  # a run of a past Monday
    assert late.skipped == ("its time 2026-11-12T12:00:00Z is not after the last digest's "
                            "end 2026-11-17T12:00:00Z")
    assert [p["run_id"] for p in json.loads((data.root / "digests" / "periods.json")
                                            .read_text())["periods"]][-1] == "scheduled__2"


def test_a_video_stored_in_the_second_a_period_ends_is_in_the_next_one(data):
    """Runs that end close together: the Monday digest (12:00:05) read the library at
    12:00:05.2, then a video was stored at 12:00:05.3. In whole seconds it was in the first
    period (which had not listed it) and not after the next one's start: in no digest."""
    monday = dt.datetime(2026, 11, 20, 12, 0, 5, tzinfo=dt.UTC)
    first = write_digest(data, "scheduled__1", monday, BASE)
    assert first.videos == 4 and first.period.end == "2026-11-20T12:00:05Z"
    add_video(data, "eee", monday + dt.timedelta(seconds=0.3), "science", GOOD)
    assert read_stored(data.video("eee").stored).stored_at == "2026-11-20T12:00:05.300000Z"
    second = write_digest(data, "asset_triggered__1", monday + dt.timedelta(seconds=0.6), BASE,
                          scheduled=False)
    assert second.period.start == first.period.end and second.videos == 1
    assert second.period.name == "2026-11-20T12-00-05.600000Z"
    assert "Talk eee" in (data.root / "digests" / second.period.name / "digest.md").read_text()
    # the pages list them newest first (not by name: "05.6Z" sorts before "05Z")
    assert [name for name, _ in DigestFiles(data).periods()] == [second.period.name,
                                                                 first.period.name]


def test_a_video_stored_again_keeps_its_first_time(data):
    video = data.video("aaa")
    record, new = record_stored(video, "aaa", "run-again", None, "en", now="2026-11-20T00:00:00Z")
    assert not new and record.stored_at == "2026-11-02T12:00:00Z"
    assert record.last_run_id == "run-again" and record.source == "science"
    assert read_stored(video.stored) == record
    assert json.loads(video.stored.read_text())["run_id"] == "run-aaa"


def test_any_window_for_the_cli_and_its_bad_input(data):
    period, markdown = window_digest(data, at(3, 0), at(4, 23), BASE)
    assert period.start == "2026-11-03T00:00:00Z"
    assert "Episode" in markdown and "Talk ccc" in markdown and "Talk aaa" not in markdown
    _, empty = window_digest(data, at(20), at(21), BASE)
    assert "*No videos were stored in this period.*" in empty
    with pytest.raises(BadInputError, match="^the window starts at 2026-11-21T12:00:00Z, not "
                                            "before its end 2026-11-20T12:00:00Z"):
        window_digest(data, at(21), at(20), BASE)
    assert parse_time("2026-11-03") == at(3, 0)


def test_a_digest_of_the_data_on_object_storage_is_published_to_the_bucket(s3, tmp_path,
                                                                          monkeypatch):
    from scribeflow.core.config import PipelineSettings
    from scribeflow.core.objects import open_storage
    from scribeflow.library.digest import write_library_digest

    local = DataPaths(tmp_path / "made")
    add_video(local, "aaa", at(2), "science", GOOD)
    bucket = s3.new_bucket()
    url = f"s3://{bucket}/data"
    storage = open_storage(url, {"key": s3.key, "secret": s3.secret,
                                 "client_kwargs": {"endpoint_url": s3.endpoint}})
    for path in (local.root / "videos").rglob("*.json"):
        storage.write_bytes(path.relative_to(local.root).as_posix(), path.read_bytes())
    monkeypatch.setenv("SCRIBEFLOW_WORKDIR", str(tmp_path / "work"))
    settings = PipelineSettings.from_env({"data_dir": url})
    written = write_library_digest(settings, "scheduled__1", at(5), BASE)
    assert written.videos == 1
    keys = set(storage.files("digests"))
    assert {"digests/periods.json", "digests/feed.atom", "digests/feed-science.atom",
            "digests/2026-11-05T12-00-00Z/digest.md"} <= keys
    assert b"Talk aaa" in storage.read_bytes("digests/2026-11-05T12-00-00Z/digest.html")
    second = write_library_digest(settings, "scheduled__2", at(9), BASE)
    assert second.period.start == "2026-11-05T12:00:00Z" and second.videos == 0
    assert not list((tmp_path / "work").glob("*"))  # the scratch copies are gone
