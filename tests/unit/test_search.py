import pytest

from scribeflow.config import PipelineSettings
from scribeflow.errors import BadInputError
from scribeflow.search import search


@pytest.mark.parametrize(
    ("query", "k", "message"),
    [("", 5, "empty query"), ("   \n ", 5, "empty query"), ("ok", 0, "k must be between"),
     ("ok", 1000, "k must be between"), ("word " * 2000, 5, r"query too long: \d+ word pieces")],
)
def test_bad_queries_are_refused(query, k, message, embedder, tmp_path):
    with pytest.raises(BadInputError, match=message):
        search(query, PipelineSettings(data_dir=tmp_path), k=k, embedder=embedder)


def test_empty_store_returns_nothing(embedder, tmp_path):
    assert search("volcanoes", PipelineSettings(data_dir=tmp_path), embedder=embedder) == []
