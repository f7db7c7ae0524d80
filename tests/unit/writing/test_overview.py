"""The document's opening: its order, its links, and anchors that the HTML's headings carry."""

from __future__ import annotations

import re

from scribeflow.core.links import moment_link
from scribeflow.writing.chapters import Chapter, with_chapter_headings
from scribeflow.writing.overview import Facts, compose, heading_ids, iso_date, slug
from scribeflow.writing.render import document_page
from scribeflow.writing.summarize import KeyMoment, VideoSummary

META = {"video_id": "abc123", "title": "Rivers *and* [Seas]", "channel": "Geo Talks",
        "upload_date": "20261102", "duration": 95.0,
        "webpage_url": "https://www.youtube.com/watch?v=abc123"}
SUMMARY = VideoSummary(abstract="Rivers carry water to the sea. The sea feeds the clouds.",
                       key_moments=(KeyMoment("Rivers flow to the sea.", 28.4, "q", 95.0),
                                    KeyMoment("Clouds form.", 61.0, "q", 90.0)),
                       covered_s=95.0, duration_s=95.0)
CHAPTERS = [Chapter("Intro", 0.0, "Welcome.", 100), Chapter("Summary", 28.0, "Rivers.", 100)]
CHUNKS = [{"index": 0, "start": 0.0, "end": 40.0,
           "text": "Welcome to the show. Rivers carry water to the sea."}]


def link(start: float) -> str:
    return moment_link(META["webpage_url"], META["video_id"], start, "../../../")


def document() -> str:
    facts = Facts.of(META, link, "en", 87)
    return compose(META["title"], facts, SUMMARY, CHAPTERS,
                   with_chapter_headings(CHUNKS, CHAPTERS), link)


def test_the_document_opens_with_title_facts_summary_and_linked_chapters():
    doc = document()
    order = [doc.index(part) for part in (
        "# Rivers \\*and\\* \\[Seas\\]", "Source: [https://www.youtube.com/watch?v=abc123]",
        "Channel: Geo Talks", "Published: 2026-11-02", "Duration: 01:35", "Language: English",
        "Quality score: **87**/100", "## Summary", "Rivers carry water to the sea. The sea",
        "**Key moments**", "- [00:28](https://www.youtube.com/watch?v=abc123&t=28s) Rivers",
        "## Chapters", "## Intro", "Welcome to the show.")]
    assert order == sorted(order)
    # the chapter named "Summary" gets the second anchor of that name; both links work
    assert "1. [Intro](#intro) · [00:00](https://www.youtube.com/watch?v=abc123&t=0s)" in doc
    assert "2. [Summary](#summary-1) · [00:28](https://www.youtube.com/watch?v=abc123&t=28s)" \
        in doc
    assert doc.index("## Summary\n\nRivers carry water to the sea.\n") > doc.index("## Intro")


def test_the_html_keeps_the_order_and_its_headings_carry_the_anchors():
    doc = document()
    html = document_page(META["title"], doc)
    ids = re.findall(r'<h\d id="([^"]+)"', html)
    assert ids == [i for _, _, i in heading_ids(doc)]
    assert ids == ["rivers-and-seas", "summary", "chapters", "intro", "summary-1"]
    for anchor in re.findall(r'href="#([^"]+)"', html):
        assert anchor in ids
    assert html.index("Quality score: <strong>87</strong>/100") < html.index('id="summary"')
    assert '<a href="https://www.youtube.com/watch?v=abc123&amp;t=28s">00:28</a>' in html
    assert "<em>" not in html.split("</h1>")[0]  # the title's stars are shown, not emphasis


def test_a_local_file_links_to_the_player_and_a_failed_summary_says_so():
    meta = META | {"webpage_url": "file:///media/talk%20one.mp4", "channel": None,
                   "upload_date": None}

    def local(start: float) -> str:
        return moment_link(meta["webpage_url"], meta["video_id"], start, "../../../")

    failed = VideoSummary(failed="the LLM could not be reached: connection refused")
    doc = compose(meta["title"], Facts.of(meta, local, "de", None), failed, [], "Hallo.", local)
    assert "Source: [talk one.mp4](../../../watch/abc123?t=0)" in doc
    assert "Channel" not in doc and "Published" not in doc and "Quality" not in doc
    assert "Language: German" in doc
    assert "*No summary: the LLM could not be reached: connection refused*" in doc
    skipped = VideoSummary(skipped="no LLM configured")
    assert "Summary" not in compose("T", Facts.of(meta, local, None, None), skipped, [], "x",
                                    local)


def test_slugs_and_dates():
    assert slug("Ünïcode & Punctuation: 2.0!") == "ünïcode--punctuation-20"
    assert iso_date("20261102") == "2026-11-02" and iso_date("2026") == "2026"
