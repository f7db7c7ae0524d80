"""Listing against a real local site with real yt-dlp doing the HTTP."""

import datetime as dt
import random
import statistics

import pytest

from scribeflow.core.errors import BadInputError, BlockedError, ScribeflowError
from scribeflow.core.files import safe_name
from scribeflow.sources.listing import (
    STOP_AFTER_OLD,
    Entry,
    Lister,
    Throttle,
    feed_entry_key,
    generic_key,
    youtube_tabs,
)
from support.feeds import FeedSite, Upload

UTC = dt.UTC
DAY0 = dt.datetime(2024, 6, 30, 12, tzinfo=UTC)


def daily(n: int, media: str = "ep{:04d}.mp3") -> list[Upload]:
    """``n`` uploads, one a day, newest first."""
    return [Upload(media.format(i), f"Episode {i}", DAY0 - dt.timedelta(days=i), duration=60)
            for i in range(n)]


@pytest.fixture
def site(tmp_path):
    (tmp_path / "a.mp3").write_bytes(b"ID3")
    site = FeedSite(tmp_path)
    yield site
    site.close()


def test_a_paged_feed_stops_once_a_page_is_older_than_the_window(site):
    url = site.feed("feed.xml", daily(1000), page_size=50)
    lister = Lister()
    since = DAY0 - dt.timedelta(days=210)  # a week, 200 to 210 days back
    entries = list(lister.entries(url, since=since))
    # pages 0-4 hold days 0-249: page 4 reaches past the window, so page 5 is not asked for
    assert lister.requests == 5 == sum(site.hits.values())
    assert len(entries) == 250 and entries[0].title == "Episode 0"
    everything = Lister()
    assert len(list(everything.entries(url))) == 1000 and everything.requests == 20


def test_feed_entries_become_video_keys_and_urls(site):
    uploads = [Upload("talk one.mp3", "One", DAY0), Upload("b.mp4", "Two", None, short=True)]
    feed = site.feed("ch.xml", uploads, kind="atom")
    atom = list(Lister().entries(feed))
    assert [(e.key, e.url, e.published, e.is_short) for e in atom] == [
        (feed_entry_key(feed, "yt:video:vid0000", site.url("talk one.mp3")),
         site.url("talk one.mp3"), DAY0, False),
        (feed_entry_key(feed, "yt:video:vid0001", site.url("b.mp4")), site.url("shorts/b.mp4"),
         None, True)]
    assert atom[0].key.startswith("generic-talk_one-") and len(atom[0].key) == 27
    rss = list(Lister().entries(site.feed("p.xml", uploads)))
    assert rss[0].url == site.url("talk one.mp3") and rss[0].duration is None


def test_a_playlist_page_is_listed_by_ytdlp(site):
    uploads = [Upload("a.mp3", "A", None), Upload("b.mp3", "B", None)]
    lister = Lister()
    entries = list(lister.entries(site.page("lessons.html", uploads)))
    assert [(e.key, e.url, e.published) for e in entries] == [
        ("generic-a", site.url("a.mp3"), None), ("generic-b", site.url("b.mp3"), None)]
    assert lister.requests == 2  # the sniff, then yt-dlp's own request


def test_an_html_page_announcing_its_feed_is_followed(site):
    feed = site.feed("feed.xml", daily(3))
    site.serve("blog", lambda q: f'<html><head><link rel="alternate" '
               f'type="application/rss+xml" href="{feed}"></head></html>', "text/html")
    assert [e.title for e in Lister().entries(site.url("blog"))] == [
        "Episode 0", "Episode 1", "Episode 2"]


@pytest.mark.parametrize(("setup", "kind", "error", "cause"), [
    (lambda s: s.url("missing.xml"), "auto", BadInputError,
     "feed not found: {url} answered HTTP Error 404"),
    (lambda s: s.serve("bad.xml", lambda q: "<rss><channel><item><title>x</channel>"), "auto",
     BadInputError, "malformed feed XML at {url}: mismatched tag"),
    (lambda s: s.serve("page.html", lambda q: "<html><body><p>hello</p></body></html>",
                       "text/html"), "auto", BadInputError,
     "no feed or playlist at {url}: it is not RSS or Atom (text/html) and yt-dlp found no "
     "videos in it (Unsupported URL"),
    (lambda s: s.serve("page.html", lambda q: "<html><body>hi</body></html>", "text/html"),
     "feed", BadInputError, "not a feed: {url} is an HTML page, not RSS or Atom"),
    (lambda s: s.serve("limited.xml", lambda q: "", status=429), "auto", BlockedError,
     "blocked by 127.0.0.1: HTTP Error 429: Too Many Requests"),
    (lambda s: s.serve("broken.xml", lambda q: "", status=503), "auto", ScribeflowError,
     "cannot list {url}: HTTP Error 503"),
    (lambda s: "http://127.0.0.1:9/feed.xml", "auto", ScribeflowError,
     "cannot reach http://127.0.0.1:9/feed.xml: "),
])
def test_listing_failures_are_one_line(site, setup, kind, error, cause):
    url = setup(site)
    with pytest.raises(error) as info:
        list(Lister(timeout=5).entries(url, kind))
    assert type(info.value) is error and cause.format(url=url) in str(info.value), info.value
    assert "\n" not in str(info.value)


def test_an_empty_feed_lists_nothing(site):
    assert list(Lister().entries(site.feed("empty.xml", []))) == []


def test_cookies_are_sent_to_the_site(site, tmp_path):
    url = site.feed("private.xml", daily(2), cookie="session=letmein")
    with pytest.raises(BadInputError, match="access denied to .*: HTTP Error 403: Forbidden .*cookies"):
        list(Lister().entries(url))
    jar = tmp_path / "cookies.txt"
    jar.write_text("# Netscape HTTP Cookie File\n127.0.0.1\tFALSE\t/\tFALSE\t2145916800\t"
                   "session\tletmein\n")
    assert len(list(Lister(cookiefile=jar).entries(url))) == 2


def test_throttle_spreads_sleeps_over_the_range_and_skips_the_first():
    slept: list[float] = []
    throttle = Throttle(1.0, 5.0, rng=random.Random(7), sleep=slept.append)
    for _ in range(2001):
        throttle.wait()
    assert len(slept) == 2000 and all(1.0 <= s <= 5.0 for s in slept)
    assert min(slept) < 1.05 and max(slept) > 4.95
    assert 2.9 < statistics.mean(slept) < 3.1
    quarters = [sum(1 for s in slept if 1 + q <= s < 2 + q) for q in range(4)]
    assert all(450 < n < 550 for n in quarters), quarters


def test_listing_requests_go_through_the_throttle(site):
    url = site.feed("feed.xml", daily(120), page_size=50)
    slept: list[float] = []
    lister = Lister(throttle=Throttle(0.5, 1.5, rng=random.Random(1), sleep=slept.append))
    list(lister.entries(url))
    assert lister.requests == 3 and len(slept) == 2 and all(0.5 <= s <= 1.5 for s in slept)


def test_generic_keys_are_the_ids_downloads_get():
    from yt_dlp.extractor.common import InfoExtractor

    from scribeflow.core.files import safe_name

    for url in ("http://h/a/ep%201.mp3", "http://h/x.mp4?src=rss", "http://h/dir/talk.mp4/"):
        assert generic_key(url) == "generic-" + safe_name(InfoExtractor._generic_id(url))
    assert generic_key("http://h/a/ep%201.mp3") == "generic-ep_1"


def test_youtube_channel_roots_list_their_tabs():
    assert youtube_tabs("https://www.youtube.com/@NASA", False) == [
        "https://www.youtube.com/@NASA/videos"]
    assert youtube_tabs("https://youtube.com/channel/UCabc/", True) == [
        "https://youtube.com/channel/UCabc/videos", "https://youtube.com/channel/UCabc/shorts"]
    assert youtube_tabs("https://www.youtube.com/playlist?list=PL1", False) is None
    assert youtube_tabs("https://www.youtube.com/@NASA/streams", False) is None


def test_entries_round_trip():
    entry = Entry(key="k", url="u", title="t", published=DAY0, release=DAY0, duration=3.0)
    assert Entry.from_dict(entry.to_dict()) == entry
    assert STOP_AFTER_OLD >= 3


def test_two_feeds_whose_media_share_a_file_name_give_two_videos(site):
    """Podcast apps key an episode on its feed and guid; two sites' episode1.mp3 are two
    episodes. The same entry listed again keeps its id; an entry without a guid is keyed on
    its media URL."""
    first = site.feed("first.xml", [Upload("episode1.mp3", "First show", DAY0)])
    second = site.feed("second.xml", [Upload("episode1.mp3", "Second show", DAY0)])
    (a,), (b,) = list(Lister().entries(first)), list(Lister().entries(second))
    assert a.url == b.url and a.key != b.key
    assert a.key.startswith("generic-episode1-") and b.key.startswith("generic-episode1-")
    assert [e.key for e in Lister().entries(first)] == [a.key]  # listed again: the same id
    assert safe_name(a.key) == a.key
    no_guid = feed_entry_key(first, None, site.url("episode1.mp3"))
    assert no_guid == feed_entry_key(second, None, site.url("episode1.mp3")) != a.key
    assert no_guid != feed_entry_key(first, None, site.url("other/episode1.mp3"))
