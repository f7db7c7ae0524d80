import pytest

from scribeflow.core.config import PipelineSettings
from scribeflow.core.errors import BadInputError
from scribeflow.core.records import SearchFilters
from scribeflow.index.search import check_filters, search


@pytest.mark.parametrize(
    ("query", "k", "message"),
    [("", 5, "empty query"), ("   \n ", 5, "empty query"), ("ok", 0, "k must be between"),
     ("ok", 1000, "k must be between"), ("x7q9z " * 160, 5, r"query too long: \d+ word pieces, the embedding model takes at most 254"),
     ("x" * 10_000, 5, "query too long: 10000 characters, at most 1000")],
)
def test_bad_queries_are_refused(query, k, message, embedder, tmp_path):
    with pytest.raises(BadInputError, match=message):
        search(query, PipelineSettings(data_dir=tmp_path), k=k, embedder=embedder)


def test_empty_store_returns_nothing(embedder, tmp_path):
    assert search("volcanoes", PipelineSettings(data_dir=tmp_path), embedder=embedder) == []


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        (SearchFilters(date_from="yesterday"), "filter date_from must be a date as YYYY-MM-DD"),
        (SearchFilters(date_to="2024-13"), "filter date_to must be a date"),
        (SearchFilters(date_from="2024-05-02", date_to="2024-05-01"), "is after date_to"),
        (SearchFilters(channel="c" * 201), "filter channel is longer than 200 characters"),
        (SearchFilters(date_from="2024-01-01'; DROP TABLE x; --"), "must be a date"),
        (SearchFilters(date_from="2024-13-45"), r"filter date_from is not a real date: "
                                                r"'2024-13-45' \(month must be in 1..12\)"),
        (SearchFilters(date_to="2023-02-29"), "filter date_to is not a real date"),
        (SearchFilters(speaker="the host"), "filter speaker must be a speaker's number, as the "
                                            "transcript shows it"),
        (SearchFilters(speaker="0"), "filter speaker must be a speaker's number"),
        (SearchFilters(speaker="Speaker 2'; DROP TABLE x; --"), "filter speaker must be"),
    ],
)
def test_bad_filters_are_refused(filters, message):
    with pytest.raises(BadInputError, match=message):
        check_filters(filters)


def test_blank_filters_mean_none():
    assert check_filters(SearchFilters(video_id=" ", channel="", language=" en ", speaker=" ")) \
        == SearchFilters(language="en")


@pytest.mark.parametrize("given", ["2", "Speaker 2", "speaker2", " SPEAKER  2 "])
def test_a_speaker_is_named_as_the_transcript_names_it(given):
    assert check_filters(SearchFilters(speaker=given)).speaker == "Speaker 2"


def test_pgvector_search_end_to_end_with_real_model(embedder, pgvector_dsn, tmp_path):
    from scribeflow.core.records import ChunkRow
    from scribeflow.index.store.pgvector import PgvectorStore

    texts = ["Volcanoes erupt when magma rises through the crust.",
             "Bread rises because yeast makes gas in the dough.",
             "Invoice 88213 was paid by Zaragoza Logistics."]
    vectors = embedder.encode(texts, normalize_embeddings=True)
    store = PgvectorStore(pgvector_dsn)
    store.upsert_video("v", [
        ChunkRow(id=f"id{i}", video_id="v", chunk_index=i, unit_index=0, start=i * 10.0,
                 end=i * 10.0 + 9, text=t, title="Mixed", channel=None, upload_date=None,
                 language="en", url=f"http://x/v#t={i * 10}", model="all-MiniLM-L6-v2",
                 vector=tuple(float(x) for x in vec))
        for i, (t, vec) in enumerate(zip(texts, vectors, strict=True))
    ])
    settings = PipelineSettings(data_dir=tmp_path, store="pgvector")
    hits = search("how does lava come out of a mountain", settings, k=3, embedder=embedder,
                  dsn=pgvector_dsn)
    assert hits[0].text == texts[0]
    hits = search("88213", settings, k=3, embedder=embedder, dsn=pgvector_dsn)
    assert hits[0].text == texts[2]
