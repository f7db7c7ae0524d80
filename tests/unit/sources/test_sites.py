import pytest

from scribeflow.core.errors import BlockedError
from scribeflow.sources.sites import blocked, download_pool, site_of


@pytest.mark.parametrize(("url", "site"), [
    ("https://www.youtube.com/watch?v=x", "youtube.com"), ("https://youtu.be/x", "youtube.com"),
    ("https://m.youtube.com/@a", "youtube.com"), ("http://127.0.0.1:8000/f.xml", "127.0.0.1"),
    ("https://Feeds.Example.org/p", "feeds.example.org"),
])
def test_site_of(url, site):
    assert site_of(url) == site


@pytest.mark.parametrize("cause", [
    "Sign in to confirm you're not a bot. Use --cookies-from-browser",
    "HTTP Error 429: Too Many Requests",
    "This content isn't available, try again later.",
])
def test_blocks_are_recognised(cause):
    error = blocked(cause, "https://www.youtube.com/watch?v=x")
    assert isinstance(error, BlockedError) and error.site == "youtube.com"
    assert str(error).startswith("blocked by youtube.com: ")


@pytest.mark.parametrize("cause", ["HTTP Error 404: Not Found", "Video unavailable",
                                   "Unsupported URL: http://x"])
def test_other_failures_are_not_blocks(cause):
    assert blocked(cause, "https://x.org/v") is None


def test_download_pool_by_site():
    pools = "youtube.com=downloads_youtube, vimeo.com = downloads_vimeo"
    assert download_pool("https://youtu.be/abc", pools) == "downloads_youtube"
    assert download_pool("https://vimeo.com/1", pools) == "downloads_vimeo"
    assert download_pool("https://example.org/a.mp3", pools) is None
    assert download_pool("https://youtu.be/abc", "") is None
