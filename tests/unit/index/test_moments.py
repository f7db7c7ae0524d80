"""Moments: windows of a unit's text, their spoken times, their codes, and where a hit lands
(real embedding model, real stores)."""

from __future__ import annotations

import re

import pytest

from scribeflow.core.files import DataPaths, write_json_atomic
from scribeflow.core.records import Moment, SearchHit
from scribeflow.index import moments
from scribeflow.index.embedding import embed_query, embed_texts
from scribeflow.index.store import open_store
from scribeflow.pipeline import rows
from scribeflow.pipeline.speakers import read_transcript

SPOKEN = ("um so the sun heats the ocean and water rises into the sky as vapor "
          "high in the air the vapor cools and forms clouds "
          "magma is hot melted rock that pushes up through the crust of the earth "
          "and finally a volcano erupts")
#: What an LLM made of it: fillers gone, punctuation and capitals added, a word changed.
POLISHED = ("The sun heats the ocean, and water rises into the sky as vapour. High in the air "
            "the vapour cools and forms clouds. Magma is hot melted rock that pushes up "
            "through the crust of the Earth. Finally, a volcano erupts.")


def spoken_words(text: str = SPOKEN, start: float = 100.0, step: float = 0.5):
    return [(start + i * step, w) for i, w in enumerate(text.split())]


def test_a_window_starts_at_each_sentence_and_within_long_ones():
    spans = moments.windows(POLISHED)
    # sentences, and the halves of the two longer than PIECE_WORDS (12)
    assert [POLISHED[o:o + 12] for o, _ in spans] == [
        "The sun heat", "water rises ", "High in the ", "Magma is hot", "up through t",
        "Finally, a v"]
    assert all(POLISHED[o:].startswith(text) for o, text in spans)
    assert spans[0][1].endswith("forms clouds.")  # two sentences fit in 24 words
    long = " ".join(f"w{i}" for i in range(40))  # no punctuation: 4 equal parts
    starts = [long[o:].split()[0] for o, _ in moments.windows(long)]
    assert starts == ["w0", "w10", "w20", "w30"]
    assert all(len(t.split()) <= moments.WINDOW_WORDS for _, t in moments.windows(long))
    giant = "x" * 1000 + " tail."  # one "word" longer than a window: cut to its characters
    assert all(len(t) <= moments.WINDOW_CHARS for _, t in moments.windows(giant))
    assert moments.windows("") == moments.windows("   ") == []


def test_words_get_the_times_they_were_spoken_though_the_text_was_polished():
    times = moments.word_times(POLISHED, spoken_words())
    words = POLISHED.split()
    said = SPOKEN.split()
    assert times[words.index("The")] == 100.0 + 0.5 * said.index("the")
    assert times[words.index("Magma")] == 100.0 + 0.5 * said.index("magma")
    assert times[words.index("Finally,")] == 100.0 + 0.5 * said.index("finally")
    # "vapour" was never said: it takes the time of the word before it
    assert times[words.index("vapour.")] == times[words.index("vapour.") - 1]
    assert times == sorted(times)
    assert moments.word_times("nothing alike here", spoken_words()) == [None, None, None]
    assert moments.word_times(POLISHED, []) == [None] * len(words)


def test_a_hit_lands_on_the_sentence_that_answers(embedder):
    spans = moments.windows(POLISHED)
    vectors = embed_texts(embedder, [t for _, t in spans])
    made = moments.make(POLISHED, spoken_words(), 100.0, vectors)
    assert [m.offset for m in made] == [o for o, _ in spans]
    assert all(len(m.code) == 48 for m in made)
    assert [m.start for m in made] == sorted(m.start for m in made)
    magma = 100.0 + 0.5 * SPOKEN.split().index("magma")
    query = embed_query(embedder, "molten rock rising through the earth's crust")
    (landing,) = moments.landed([HIT], [moments.pack(made)], query)
    assert magma - moments.LEAD_S <= landing.start <= magma and landing.unit_start == 60.0
    assert POLISHED[landing.moment_offset:].startswith("Magma")
    # no word matched: every moment starts where the unit does
    lost = moments.make(POLISHED, [], 42.0, vectors)
    assert {m.start for m in lost} == {42.0}


HIT = SearchHit(id="a", video_id="v", title="t", text="x", start=60.0, end=90.0,
                url="https://www.youtube.com/watch?v=abc&t=60s", score=0.5)


def test_moments_pack_and_unpack_and_other_versions_are_ignored():
    made = (Moment(1.25, 0, bytes(range(48))), Moment(3.5, 40, bytes(48)))
    blob = moments.pack(made)
    assert moments.unpack(blob) == made
    assert moments.pack(()) is None and moments.unpack(None) == moments.unpack(b"") == ()
    assert moments.unpack(bytes([moments.VERSION + 1]) + blob[1:]) == ()
    assert moments.unpack(blob[:-1]) == moments.unpack(blob[:3]) == ()  # damaged: none
    (hit,) = moments.landed([HIT], [blob[:-1]], [1.0] * 384)
    assert hit.start == hit.unit_start == 60.0


def test_a_transcript_without_word_times_gives_its_segments_starts(tmp_path):
    video = DataPaths(tmp_path).video("v")
    write_json_atomic(video.transcript, {
        "video_id": "v", "language": "en", "language_probability": None, "duration": 12.0,
        "model": "whisper-1", "device": "endpoint", "compute_type": "endpoint", "settings": {},
        "processing_s": 1.0, "timestamps": "segment", "segments": [
            {"id": 0, "start": 5.0, "end": 9.0, "text": "the sun heats the ocean"},
            {"id": 1, "start": 9.5, "end": 12.0, "text": "magma is hot melted rock"}]})
    spoken = rows._spoken_words(read_transcript(video))
    assert spoken[0] == (5.0, "the", None) and spoken[5] == (9.5, "magma", None)
    assert len(spoken) == 10
    times = moments.word_times("The sun heats the ocean. Magma is hot rock.",
                               [(t, w) for t, w, _ in spoken])
    assert times[0] == 5.0 and times[5] == 9.5
    assert rows._spoken_words(None) == []


def test_landed_moves_hits_and_their_links_or_keeps_their_unit_start():
    code = moments.pack((Moment(60.0, 0, b"\x00" * 48), Moment(75.2, 10, b"\xff" * 48)))
    late = moments.pack((Moment(60.0, 0, b"\x00" * 48), Moment(61.0, 5, b"\x00" * 48),
                         Moment(62.5, 9, b"\xff" * 48)))
    moved, kept, lead = moments.landed([HIT, HIT, HIT], [code, None, late], [1.0] * 384)
    # all positive: the all-ones code wins
    assert (moved.start, moved.unit_start, moved.moment_offset) == (75.2, 60.0, 10)
    assert moved.url == "https://www.youtube.com/watch?v=abc&t=75s"
    assert (kept.start, kept.unit_start, kept.url) == (60.0, 60.0, HIT.url)
    # the best window starts 2.5 s in: the hit starts at the earliest within LEAD_S before it
    assert (lead.start, lead.moment_offset) == (60.0, 0)
    assert moments.landed([], [], [1.0] * 384) == []


@pytest.fixture
def settings(store_settings):
    return store_settings


def test_stored_units_carry_moments_and_search_lands_on_them(settings, embedder):
    video = DataPaths(settings.data_dir).video("file-moments")
    write_json_atomic(video.metadata, {"video_id": "file-moments", "title": "Earth science",
                                       "channel": None, "upload_date": None, "duration": 200.0,
                                       "webpage_url": "file:///earth.mp4"})
    words = [{"start": t, "end": t + 0.4, "word": f" {w}", "probability": 0.9}
             for t, w in spoken_words()]
    write_json_atomic(video.transcript, {
        "video_id": "file-moments", "language": "en", "language_probability": 1.0,
        "duration": 200.0, "model": "tiny.en", "device": "cpu", "compute_type": "int8",
        "settings": {}, "processing_s": 1.0, "segments": [
            {"id": 0, "start": 100.0, "end": words[-1]["end"], "text": SPOKEN, "words": words}]})
    write_json_atomic(video.document_chunks, [
        {"index": 0, "start": 100.0, "end": words[-1]["end"], "text": POLISHED}])
    rows.upsert_video_rows(str(video.root), settings)
    store = open_store(settings)
    (row,) = store.video_rows("file-moments")
    assert len(row.moments) == 6 and row.moments[0].start == 101.0  # "um so" left out
    hits = store.search(embed_query(embedder, "a volcano erupts"), "volcano erupts", 1,
                        model="all-MiniLM-L6-v2")
    finally_at = 100.0 + 0.5 * SPOKEN.split().index("finally")
    assert finally_at - moments.LEAD_S <= hits[0].start <= finally_at
    assert hits[0].unit_start == 100.0 and hits[0].url == f"file:///earth.mp4#t={int(hits[0].start)}"
    assert re.match(r"\w", hits[0].text[hits[0].moment_offset:])
