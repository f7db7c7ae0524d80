import datetime as dt

import pytest

from scribeflow.core.errors import BlockedError
from scribeflow.core.files import DataPaths, read_json
from scribeflow.pipeline.ingest import Window, decide, ingest_source, ytdlp_staleness
from scribeflow.pipeline.ingest_records import (
    PastRun,
    SourceState,
    past_run_from_summary,
    record_block,
    state_path,
    video_run_id,
)
from scribeflow.pipeline.summary import record_failure, update_run_summary
from scribeflow.sources.catalog import Source
from scribeflow.sources.listing import Entry, Lister
from support.feeds import FeedSite, Upload

UTC = dt.UTC
NOW = dt.datetime(2024, 7, 1, 12, tzinfo=UTC)
DAY = dt.timedelta(days=1)
WINDOW = Window(NOW - 3 * DAY, NOW, live=False)


def source(**changes) -> Source:
    return Source.model_validate({"name": "src", "url": "https://example.org/feed.xml",
                                  "schedule": "@daily", "start_date": "2024-01-01"} | changes)


def entry(key: str, days_ago: float | None = 1.0, **changes) -> Entry:
    published = None if days_ago is None else NOW - dt.timedelta(days=days_ago)
    return Entry(key=key, url=f"https://example.org/{key}.mp3", title=f"Title {key}",
                 published=published, **changes)


def run(entries, src=None, window=WINDOW, past=None, stored=(), **kwargs):
    return decide(entries, src or source(), window, now=NOW,
                  past_run=lambda rid: (past or {}).get(rid), stored=lambda k: k in stored,
                  **kwargs)


def actions(decisions):
    return [(d.entry.key, d.action, d.reason) for d in decisions]


@pytest.mark.parametrize(("listed", "src", "reason"), [
    (entry("a", live_status="is_live"), {}, "live"),
    (entry("a", live_status="is_upcoming"), {}, "upcoming"),
    (entry("a", release=NOW + DAY), {}, "upcoming"),
    (entry("a", availability="private"), {}, "private"),
    (entry("a", availability="subscriber_only"), {}, "members_only"),
    (entry("a", availability="needs_auth"), {}, "members_only"),
    (entry("a", is_short=True), {}, "short"),
    (entry("a", duration=30.0), {"min_duration": 60}, "too_short"),
    (entry("a", duration=7200.0), {"max_duration": "1h"}, "too_long"),
    (entry("a"), {"title_include": ["^Lesson"]}, "title"),
    (entry("a"), {"title_exclude": ["title A"]}, "title"),
    (entry("a", problem="the entry has no link or media file"), {}, "unusable"),
    (entry("a", days_ago=None), {}, "no_date"),
])
def test_what_must_not_be_processed_is_skipped_with_its_reason(listed, src, reason):
    (decision,) = run([listed], source(**src))
    assert (decision.action, decision.reason) == ("skip", reason)


def test_shorts_and_durations_pass_when_allowed():
    decisions = run([entry("a", is_short=True, duration=30.0), entry("b", duration=None)],
                    source(include_shorts=True, min_duration=10, max_duration=60))
    assert actions(decisions) == [("a", "trigger", "new"), ("b", "trigger", "new")]


def test_the_window_is_half_open_and_undated_entries_belong_to_live_runs():
    listed = [entry("edge-start", days_ago=3), entry("edge-end", days_ago=0),
              entry("old", days_ago=5), entry("undated", days_ago=None)]
    assert actions(run(listed)) == [
        ("edge-end", "outside", "after_window"), ("old", "outside", "before_window"),
        ("undated", "skip", "no_date"), ("edge-start", "trigger", "new")]
    live = Window(NOW - 3 * DAY, NOW + DAY, live=True)
    assert [d.entry.key for d in run(listed, window=live) if d.action == "trigger"] == [
        "edge-end", "edge-start", "undated"]


def test_already_stored_triggered_or_failed_videos_are_not_processed_again():
    past = {video_run_id("t"): PastRun("success", source="other"),
            video_run_id("q"): PastRun("queued"),
            video_run_id("f"): PastRun("failed", kind="bad_input", cause="HTTP Error 404"),
            video_run_id("b"): PastRun("failed", kind="blocked", cause="blocked by x: 429"),
            video_run_id("d"): PastRun("failed", kind="disk_full", cause="no space left")}
    decisions = run([entry(k) for k in "tqfbdsn"] + [entry("n")], past=past, stored={"s"})
    assert actions(decisions) == [
        ("t", "skip", "triggered"), ("q", "skip", "triggered"), ("f", "skip", "failed_before"),
        ("s", "skip", "stored"), ("n", "skip", "duplicate"),
        ("b", "retry", "blocked"), ("d", "retry", "disk_full"), ("n", "trigger", "new")]
    assert "by source other" in decisions[0].detail
    assert "HTTP Error 404" in decisions[2].detail and "clear that run" in decisions[2].detail


def test_newest_first_at_most_max_per_run_the_rest_deferred():
    listed = [entry(k, days_ago=d) for k, d in (("b", 2.0), ("a", 2.5), ("c", 1.0), ("d", 1.5))]
    decisions = run(listed, source(max_per_run=2))
    assert [(d.entry.key, d.action) for d in decisions] == [
        ("c", "trigger"), ("d", "trigger"), ("b", "defer"), ("a", "defer")]
    assert {d.reason for d in decisions if d.action == "defer"} == {"max_per_run"}


def test_the_daily_cap_counts_what_was_triggered_today():
    decisions = run([entry(k) for k in "abc"], source(daily_cap=4), triggered_today=3)
    assert [d.action for d in decisions] == ["trigger", "defer", "defer"]
    assert decisions[1].reason == "daily_cap"


def test_pending_videos_of_earlier_runs_are_considered_whatever_the_window():
    pending = [entry("old", days_ago=30), entry("done", days_ago=30)]
    decisions = run([entry("new")], pending=pending,
                    past={video_run_id("done"): PastRun("success")})
    assert actions(decisions) == [("done", "skip", "triggered"), ("new", "trigger", "new"),
                                  ("old", "trigger", "pending")]


def test_approximate_dates_are_resolved_before_deciding():
    resolved = []

    def resolve(e):
        resolved.append(e.key)
        return Entry(**{**e.__dict__, "published": NOW - 10 * DAY, "approximate": False})

    listed = [entry("near", days_ago=1, approximate=True), entry("far", days_ago=9,
                                                                 approximate=True)]
    decisions = run(listed, resolve=resolve)
    assert resolved == ["near"]  # an estimate is never earlier than the truth: far is out
    assert actions(decisions) == [("near", "outside", "before_window"),
                                  ("far", "outside", "before_window")]


def test_scheduled_intervals_are_live_and_backfills_are_not():
    day = Window.of_interval(NOW - DAY, NOW, now=NOW + dt.timedelta(minutes=5))
    old = Window.of_interval(NOW - 30 * DAY, NOW - 29 * DAY, now=NOW)
    assert day.live and not old.live


@pytest.fixture
def site(tmp_path):
    site = FeedSite(tmp_path)
    yield site
    site.close()


def test_a_block_backs_the_source_off_and_its_video_is_tried_again_later(site, tmp_path):
    data = DataPaths(tmp_path / "data")
    url = site.feed("feed.xml", [Upload(f"v{i}.mp3", f"V{i}", NOW - dt.timedelta(hours=i + 1))
                                 for i in range(3)])
    src = source(url=url, cooldown="2h", max_per_run=1)
    window = Window(NOW - DAY, NOW, live=True)
    past: dict[str, PastRun] = {}

    def ingest(now):
        return ingest_source(src, window, data, lister=Lister(), now=now,
                             past_run=past.get, stored=lambda k: False)

    def key(n: int) -> str:
        return site.key("feed.xml", f"v{n}.mp3")

    first = ingest(NOW)
    assert [d.entry.key for d in first.to_trigger] == [key(0)]
    past[video_run_id(key(0))] = PastRun("failed", kind="blocked", cause="429")
    record_block(data, BlockedError("blocked by 127.0.0.1: HTTP Error 429", site="127.0.0.1"),
                 url=site.url("v0.mp3"), run_id=video_run_id(key(0)), source="src", now=NOW)
    during = ingest(NOW + dt.timedelta(hours=1))
    assert during.to_trigger == () and during.backoff is not None
    assert during.summary()["deferred"] == {"backoff": 3}
    assert "waiting until 2024-07-01 14:00 UTC" in during.decisions[-1].detail
    after = ingest(NOW + dt.timedelta(hours=3))
    assert [(d.entry.key, d.action) for d in after.to_trigger] == [(key(0), "retry")]
    state = SourceState.load(state_path(data, "src"))
    assert set(state.pending) == {video_run_id(key(1)), video_run_id(key(2))}
    assert state.daily == {"2024-07-01": 2}


def test_a_listing_block_is_recorded_and_raised(site, tmp_path):
    data = DataPaths(tmp_path / "data")
    url = site.feed("feed.xml", [], status=429)
    with pytest.raises(BlockedError, match="blocked by 127.0.0.1: HTTP Error 429"):
        ingest_source(source(url=url), WINDOW, data, lister=Lister(), now=NOW,
                      past_run=lambda r: None, stored=lambda k: False)
    assert read_json(data.root / "blocks" / "127.0.0.1.json")["cause"].startswith("blocked by")


def test_a_dry_run_changes_no_state(site, tmp_path):
    data = DataPaths(tmp_path / "data")
    url = site.feed("feed.xml", [Upload(f"v{i}.mp3", "V", NOW - DAY) for i in range(3)])
    plan = ingest_source(source(url=url, max_per_run=1), Window(NOW - 2 * DAY, NOW), data,
                         lister=Lister(), now=NOW, past_run=lambda r: None,
                         stored=lambda k: False, dry_run=True)
    assert len(plan.to_trigger) == 1 and plan.summary()["deferred"] == {"max_per_run": 2}
    assert not state_path(data, "src").exists()


def test_past_runs_are_read_from_run_summaries(tmp_path):
    data = DataPaths(tmp_path)
    assert past_run_from_summary(data, "ingest__x") is None
    update_run_summary(data, "ingest__x", status="running", source="pod")
    record_failure(data, "ingest__x", "download",
                   BlockedError("blocked by youtube.com: HTTP Error 429", site="youtube.com"))
    assert past_run_from_summary(data, "ingest__x") == PastRun(
        "failed", "blocked", "blocked by youtube.com: HTTP Error 429", "pod")


def test_an_old_ytdlp_is_warned_about():
    assert ytdlp_staleness(dt.date(2026, 11, 21), "2026.10.26") is None
    warning = ytdlp_staleness(dt.date(2027, 3, 1), "2026.10.26")
    assert "yt-dlp 2026.10.26 is 126 days old" in warning and "YT_DLP_VERSION" in warning
    assert ytdlp_staleness(dt.date(2027, 3, 1), "nightly") is None


def test_a_channel_runs_note_says_what_its_listing_found_and_what_became_of_it():
    from scribeflow.pipeline.ingest_records import ingest_note

    summary = {"status": "success", "found": 12, "triggered": ["a", "b", "c"],
               "already_there": ["d", "e"], "skipped": {"already_stored": 5, "too_short": 1},
               "deferred": {"daily_cap": 1}, "outside_window": 0}
    assert ingest_note(summary, "success") == (
        "Result: success: 12 listed, 3 triggered, 2 already there, 6 skipped (5 already "
        "stored, 1 too short), 1 deferred (1 daily cap)")
    assert ingest_note({"found": 0}, "success") == "Result: success: 0 listed"
    failed = {"status": "failed", "error": {"cause": "listing failed: HTTP Error 404\nmore"}}
    assert ingest_note(failed, "failed") == "Result: failed: listing failed: HTTP Error 404 more"
    assert ingest_note(None, "failed") == "Result: failed: a task failed; see its log"


def test_a_channel_runs_summary_has_one_typed_writer_and_reader(tmp_path):
    from scribeflow.pipeline.ingest_records import (
        ChannelRunSummary,
        read_ingest_summary,
        write_ingest_summary,
    )

    data = DataPaths(tmp_path)
    write_ingest_summary(data, "src", "r1", status="triggering", found=3,
                         skipped={"already_stored": 1})
    with pytest.raises(TypeError, match=r"ChannelRunSummary has no field\(s\) \['listed'\]"):
        write_ingest_summary(data, "src", "r1", listed=3)
    found = read_ingest_summary(data, "src", "r1")
    assert isinstance(found, ChannelRunSummary) and found.source == "src" and found.found == 3
    assert found.skipped == {"already_stored": 1} and found.status == "triggering"
    assert read_ingest_summary(data, "src", "nothing") is None
