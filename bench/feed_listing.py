"""P9: channel listing.

(a) Entries per second for a 1,000-entry podcast feed served on 127.0.0.1, through the
    product's path (yt-dlp's HTTP stack, the strict parser, Entry records, and the ingest
    decisions for a one-day window), side by side with a bare fetch (urllib) and
    ``ElementTree`` parse of the same bytes that reads the same fields.
(b) How many listing requests a one-week backfill makes in a long channel (2,000 daily
    uploads, 30 entries a page, as YouTube's channel pages), for weeks 1 day, 30 days,
    1 year and 5 years back, against reading the whole channel.

Prints JSON. ``--quick`` for a smoke run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import tempfile
import urllib.request
import xml.etree.ElementTree as ET
from pathlib import Path

from _common import median, timed

from scribeflow.core.files import DataPaths
from scribeflow.pipeline.ingest import Window, ingest_source
from scribeflow.sources.catalog import Source
from scribeflow.sources.listing import Lister
from support.feeds import FeedSite, Upload

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)


def uploads(n: int) -> list[Upload]:
    return [Upload(f"ep{i:05d}.mp3", f"Episode {i} &amp; more", NOW - dt.timedelta(days=i),
                   duration=1800) for i in range(n)]


def bare_listing(url: str) -> int:
    with urllib.request.urlopen(url) as response:
        body = response.read()
    root = ET.fromstring(body.lstrip().replace(b"&nbsp;", b"&#160;"))
    n = 0
    for item in root.iter("item"):
        enclosure = item.find("enclosure")
        _ = (item.findtext("title"), item.findtext("pubDate"), item.findtext("guid"),
             enclosure.get("url") if enclosure is not None else None)
        n += 1
    return n


def product_listing(url: str, data: DataPaths) -> tuple[int, int]:
    source = Source(name="bench", url=url, schedule="@daily", start_date=dt.date(2020, 1, 1),
                    max_per_run=1000)
    lister = Lister()
    plan = ingest_source(source, Window(NOW - dt.timedelta(days=1), NOW, live=False), data,
                         lister=lister, past_run=lambda r: None, stored=lambda k: False,
                         now=NOW, dry_run=True)
    lister.close()
    return plan.found, len(plan.to_trigger)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    repeats = 3 if args.quick else 9
    with tempfile.TemporaryDirectory() as tmp:
        site = FeedSite(Path(tmp))
        try:
            flat = site.feed("feed.xml", uploads(1000))
            one = site.feed("one.xml", uploads(1))
            data = DataPaths(Path(tmp) / "data")
            found, chosen = product_listing(flat, data)  # warm-up: imports, connections
            assert (found, chosen) == (1000, 1), (found, chosen)  # every entry was read
            assert bare_listing(flat) == 1000 and bare_listing(one) == 1
            served = site.hits["feed.xml"]
            product, bare, product_one, bare_one = [], [], [], []
            for _ in range(repeats):  # alternate sides so drift hits both
                product.append(timed(lambda: product_listing(flat, data)))
                bare.append(timed(lambda: bare_listing(flat)))
                product_one.append(timed(lambda: product_listing(one, data)))
                bare_one.append(timed(lambda: bare_listing(one)))
            assert site.hits["feed.xml"] - served == 2 * repeats, "each timed call fetched"
            channel = site.feed("channel.xml", uploads(2000), page_size=30)
            backfills = {}
            for days_back in (1, 30, 365, 5 * 365):
                end = NOW - dt.timedelta(days=days_back - 1)
                start = end - dt.timedelta(days=7)
                lister = Lister()
                before = sum(site.hits.values())
                listed = list(lister.entries(channel, since=start))
                in_week = sum(1 for e in listed if e.published and start <= e.published < end)
                backfills[f"{days_back}d_back"] = {
                    "requests": lister.requests, "served": sum(site.hits.values()) - before,
                    "entries_read": len(listed), "uploads_in_week": in_week}
                lister.close()
            whole = Lister()
            total = len(list(whole.entries(channel)))
        finally:
            site.close()
    figures = {
        "P9": {
            "feed_entries": 1000, "repeats": repeats,
            "product_median_s": round(median(product), 4),
            "bare_median_s": round(median(bare), 4),
            "product_entries_per_s": round(1000 / median(product)),
            "bare_entries_per_s": round(1000 / median(bare)),
            "ratio_product_over_bare": round(median(product) / median(bare), 2),
            # fixed: a 1-entry feed (HTTP stack set-up, one request); per entry: the rest
            "product_fixed_s": round(median(product_one), 4),
            "bare_fixed_s": round(median(bare_one), 4),
            "product_per_entry_us": round((median(product) - median(product_one)) / 999 * 1e6, 1),
            "bare_per_entry_us": round((median(bare) - median(bare_one)) / 999 * 1e6, 1),
            "one_week_backfill_requests": backfills,
            "whole_channel": {"entries": total, "requests": whole.requests},
        }
    }
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
