import datetime as dt

import pytest

from scribeflow.core.errors import BadInputError
from scribeflow.sources.feeds import looks_like_feed, parse_date, parse_duration, parse_feed
from support.feeds import Upload, atom_channel, podcast_rss

UTC = dt.UTC
UPLOADS = [Upload("a.mp4", "Rain & snow - part 1", dt.datetime(2024, 3, 2, 10, tzinfo=UTC), 75),
           Upload("b.mp4", "Clouds", None),
           Upload("c.mp4", "Short one", dt.datetime(2024, 3, 1, tzinfo=UTC), short=True)]


def test_youtube_style_atom_channel_feed():
    page = parse_feed(atom_channel(UPLOADS, "http://h").encode(), "http://h/channel.xml")
    assert page.title == "Test Channel" and page.next_url is None
    first, undated, short = page.items
    assert first.youtube_id == "vid0000" and first.link == "http://h/a.mp4"
    assert first.title == "Rain & snow - part 1"
    assert first.published == dt.datetime(2024, 3, 2, 10, tzinfo=UTC)
    assert undated.published is None
    assert short.link == "http://h/shorts/c.mp4"


def test_podcast_rss_with_leading_newline_entities_and_paging():
    text = podcast_rss(UPLOADS, "http://h", next_url="http://h/feed?page=1&x=2")
    assert text.startswith("\n<?xml") and "&nbsp;" in text and "&ndash;" in text
    page = parse_feed(text.encode(), "http://h/feed")
    assert page.title == "The Test Podcast" and page.next_url == "http://h/feed?page=1&x=2"
    first = page.items[0]
    assert first.title == "Rain & snow \u2013 part 1" and first.media_url == "http://h/a.mp4"
    assert first.media_type == "audio/mpeg" and first.duration == 75
    assert page.items[1].published is None and page.items[1].duration is None


@pytest.mark.parametrize(("body", "cause"), [
    (b"", "answered with an empty body"),
    (b"  \n ", "answered with an empty body"),
    (b"<!DOCTYPE html><html><body>hi</body></html>", "is an HTML page, not RSS or Atom"),
    (b"<rss><channel><title>x</title><item><title>cut", "malformed feed XML at u: "),
    (b"<rss><channel><item></channel></rss>", "mismatched tag: line 1"),
    (b"<?xml version='1.0'?><svg></svg>", "an XML document of another kind (<svg>)"),
    (b"<rss version='2.0'></rss>", "RSS without a <channel>"),
])
def test_what_is_not_a_feed_is_one_line(body, cause):
    with pytest.raises(BadInputError) as info:
        parse_feed(body, "u")
    assert cause in str(info.value) and "\n" not in str(info.value)


def test_an_empty_feed_is_a_feed_without_items():
    page = parse_feed(b"<rss version='2.0'><channel><title>Empty</title></channel></rss>", "u")
    assert page.items == () and page.title == "Empty"


def test_latin1_declared_encoding_and_markup_in_titles():
    body = ("<?xml version='1.0' encoding='ISO-8859-1'?><rss><channel><title>Caf\xe9</title>"
            "<item><title>&lt;b&gt;Bold&lt;/b&gt; news</title><link>http://h/x</link></item>"
            "</channel></rss>").encode("latin-1")
    page = parse_feed(body, "u")
    assert page.title == "Café" and page.items[0].title == "Bold news"


@pytest.mark.parametrize(("text", "expected"), [
    ("Sat, 02 Mar 2024 10:00:00 +0100", dt.datetime(2024, 3, 2, 9, tzinfo=UTC)),
    ("Sat, 02 Mar 2024 10:00:00 GMT", dt.datetime(2024, 3, 2, 10, tzinfo=UTC)),
    ("2024-03-02T10:00:00Z", dt.datetime(2024, 3, 2, 10, tzinfo=UTC)),
    ("2024-03-02T10:00:00+02:00", dt.datetime(2024, 3, 2, 8, tzinfo=UTC)),
    ("2024-03-02", dt.datetime(2024, 3, 2, tzinfo=UTC)),
    ("", None), ("last tuesday", None),
])
def test_dates(text, expected):
    assert parse_date(text) == expected


@pytest.mark.parametrize(("text", "expected"), [("3723", 3723), ("62:03", 3723),
                                                ("1:02:03", 3723), ("", None), ("soon", None),
                                                ("1:2:3:4", None)])
def test_durations(text, expected):
    assert parse_duration(text) == expected


def test_sniffing():
    assert looks_like_feed(b"\n\n<?xml version='1.0'?>\n<!-- c -->\n<rss>")
    assert looks_like_feed(b"\xef\xbb\xbf<feed xmlns='http://www.w3.org/2005/Atom'>")
    assert looks_like_feed(b"whatever", "application/atom+xml; charset=utf-8")
    assert not looks_like_feed(b"<!DOCTYPE html><html>", "text/html")
