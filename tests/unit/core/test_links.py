import pytest

from scribeflow.core.links import deep_link
from scribeflow.pipeline.rows import chunk_id


@pytest.mark.parametrize(
    ("url", "start", "expected"),
    [
        ("https://www.youtube.com/watch?v=abc", 83.7, "https://www.youtube.com/watch?v=abc&t=83s"),
        ("https://www.youtube.com/watch?v=abc&t=5s", 10, "https://www.youtube.com/watch?v=abc&t=10s"),
        ("https://youtu.be/abc", 0, "https://youtu.be/abc?t=0s"),
        ("http://127.0.0.1:8000/talk.mp4", 12.9, "http://127.0.0.1:8000/talk.mp4#t=12"),
        ("file:///videos/a.mp4", 61, "file:///videos/a.mp4#t=61"),
    ],
)
def test_deep_link(url, start, expected):
    assert deep_link(url, start) == expected


def test_chunk_id_is_deterministic_and_distinct():
    assert chunk_id("v", 1, 0) == chunk_id("v", 1, 0)
    ids = {chunk_id(v, c, u) for v in ("v", "w") for c in range(3) for u in range(3)}
    assert len(ids) == 18
    assert chunk_id("v1", 1, 0) != chunk_id("v", 11, 0)
