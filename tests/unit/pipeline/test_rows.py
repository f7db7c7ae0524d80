"""``embed_and_upsert`` and ``render_outputs`` do only the work that changed: real model, real
stores (Parquet and pgvector), real WeasyPrint."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scribeflow.core.config import PipelineSettings
from scribeflow.core.endpoints import LLMSettings
from scribeflow.core.files import DataPaths, write_json_atomic
from scribeflow.index import embedding
from scribeflow.index.store import open_store
from scribeflow.pipeline.outputs import render_outputs
from scribeflow.pipeline.rows import upsert_video_rows
from support.videos import make_video

CHUNKS = ["The sun heats the ocean and water rises into the sky as vapor.",
          "Hot melted rock called magma pushes up through the crust.",
          " ".join(["You mix flour, water, salt and yeast, then knead the dough."] * 25)]


def found_speakers(video_dir: str, turns: list[tuple[float, float, str]], key: str = "t1"
                   ) -> None:
    """``speakers.json`` as ``find_speakers`` writes it, for the transcript ``key``."""
    from scribeflow.core.files import VideoPaths
    from scribeflow.core.records import Diarization, SpeakerTurn
    from scribeflow.speech.speakers import speaker_stats

    made = tuple(SpeakerTurn(*t) for t in turns)
    write_json_atomic(VideoPaths(Path(video_dir)).speakers, Diarization(
        turns=made, speakers=speaker_stats(made), model="m", windows=10, processing_s=0.1
    ).to_dict() | {"cache_key": "s", "transcript_key": key})


@pytest.fixture
def loads(monkeypatch, embedder):
    """Every call that asked for the embedding model (the model itself is the session's)."""
    calls: list[str] = []

    def counted(name: str = "auto", device: str | None = None):
        calls.append(name)
        return embedder

    monkeypatch.setattr(embedding, "load_embedder", counted)
    return calls


@pytest.fixture
def settings(store_settings):
    return store_settings


def test_unchanged_chunks_are_not_embedded_or_written_again(settings, loads):
    video_dir = make_video(settings.data_dir, CHUNKS)
    first = upsert_video_rows(video_dir, settings)
    units = first.rows
    assert first.embedded == units > len(CHUNKS) and len(loads) == 1
    store = open_store(settings)
    stored = store.video_rows("file-abc", vectors=True)
    assert len({r.content_hash for r in stored}) == len(CHUNKS)

    again = upsert_video_rows(video_dir, settings)
    assert again.embedded == 0 and again.replaced == 0 and again.rows == units
    assert len(loads) == 1  # no model asked for
    assert again.rows_digest == first.rows_digest

    make_video(settings.data_dir, [CHUNKS[0], "Jupiter is the largest planet.", CHUNKS[2]])
    changed = upsert_video_rows(video_dir, settings)
    assert changed.embedded == 1 and changed.rows == units and len(loads) == 2
    after = {r.id: r for r in store.video_rows("file-abc", vectors=True)}
    kept = [r for r in stored if r.chunk_index != 1]
    assert all(list(after[r.id].vector) == pytest.approx(list(r.vector), abs=1e-6)
               for r in kept)
    assert after[stored[1].id].text == "Jupiter is the largest planet."

    make_video(settings.data_dir, CHUNKS[:2], title="Lesson, renamed")  # every row changes
    renamed = upsert_video_rows(video_dir, settings)
    assert renamed.embedded == renamed.rows == 2
    assert {r.title for r in store.video_rows("file-abc")} == {"Lesson, renamed"}


def test_a_video_without_speech_stores_nothing_and_removes_old_rows(settings, loads):
    video_dir = make_video(settings.data_dir, CHUNKS[:1])
    upsert_video_rows(video_dir, settings)
    make_video(settings.data_dir, [])
    emptied = upsert_video_rows(video_dir, settings)
    assert emptied.rows == 0 and open_store(settings).video_rows("file-abc") == []
    assert upsert_video_rows(video_dir, settings).embedded == 0


def test_pdfs_are_made_only_when_their_page_changed(tmp_path):
    settings = PipelineSettings.from_env({"data_dir": tmp_path / "data"})
    video_dir = make_video(settings.data_dir, CHUNKS[:2])
    video = DataPaths(settings.data_dir).video("file-abc")
    write_json_atomic(video.quality, {"score": None})
    render_outputs(video_dir, settings, LLMSettings())
    made = video.document_pdf.stat().st_mtime_ns
    assert video.document_pdf.read_bytes().startswith(b"%PDF")
    render_outputs(video_dir, settings, LLMSettings())
    assert video.document_pdf.stat().st_mtime_ns == made  # the same page: no new PDF
    make_video(settings.data_dir, [CHUNKS[0], "The sun heats the ocean and the sea."])
    render_outputs(video_dir, settings, LLMSettings())
    assert video.document_pdf.stat().st_mtime_ns != made
    assert "the sea" in video.document_html.read_text()
    # the title, the facts (no summary, no chapters), the text
    assert video.document.read_text().startswith("# Lesson\n\nSource: [")
    assert "\n\nThe sun heats the ocean" in video.document.read_text()
    processing = json.loads(video.processing.read_text())
    assert processing["embed_model"] == "auto" and "processing" not in json.loads(
        video.metadata.read_text())  # metadata.json has one writer: the download


def test_each_translation_is_rows_of_its_language_embedded_once(settings, loads):
    """A translation's chunks are rows of their own language with their own ids; adding one
    embeds only it, running again embeds nothing, and removing it removes its rows."""
    from scribeflow.core.files import VideoPaths
    from scribeflow.pipeline.rows import chunk_id

    video_dir = make_video(settings.data_dir, CHUNKS[:2])
    first = upsert_video_rows(video_dir, settings)
    german = ["Die Sonne erwärmt den Ozean, und das Wasser steigt als Dampf in den Himmel.",
              "Heißes geschmolzenes Gestein, Magma genannt, drückt durch die Kruste."]
    write_json_atomic(VideoPaths(Path(video_dir)).document_chunks_in("de"), [
        {"index": i, "start": 10.0 * i, "end": 10.0 * i + 9, "text": t}
        for i, t in enumerate(german)])
    second = upsert_video_rows(video_dir, settings)
    assert second.rows == first.rows + 2 and second.embedded == 2  # only the German chunks
    rows = open_store(settings).video_rows("file-abc")
    assert sorted((r.language, r.chunk_index) for r in rows) == [
        ("de", 0), ("de", 1), ("en", 0), ("en", 1)]
    assert {r.id for r in rows if r.language == "de"} == {
        chunk_id("file-abc", i, 0, "de") for i in range(2)}
    assert {r.id for r in rows if r.language == "en"} == {
        chunk_id("file-abc", i, 0) for i in range(2)}
    assert upsert_video_rows(video_dir, settings).embedded == 0  # nothing changed
    VideoPaths(Path(video_dir)).document_chunks_in("de").unlink()
    third = upsert_video_rows(video_dir, settings)
    assert third.rows == first.rows and third.embedded == 0
    assert {r.language for r in open_store(settings).video_rows("file-abc")} == {"en"}


def test_each_unit_carries_who_is_heard_in_it_and_a_search_finds_a_speakers_words(settings,
                                                                                   loads):
    """Speakers come from speakers.json by the words' times: a unit lists who is heard in it,
    in order; the index reads the words without labels; a search can keep one speaker's."""
    from scribeflow.core.records import SearchFilters
    from scribeflow.index.search import search

    host = " ".join(["Bread needs flour, water, salt and yeast, kneaded well."] * 14)
    guest = " ".join(["Volcanoes erupt when magma rises through the crust."] * 14)
    texts = [f"Speaker 1: {host}\n\nSpeaker 2: {guest}", "Speaker 1: Thank you for coming."]
    video_dir = make_video(settings.data_dir, texts)
    first = upsert_video_rows(video_dir, settings)  # no speakers.json yet: nobody labelled
    stored = open_store(settings).video_rows("file-abc")
    assert {r.speakers for r in stored} == {()}
    found_speakers(video_dir, [(0.0, 4.5, "Speaker 1"), (4.5, 9.0, "Speaker 2"),
                               (10.0, 19.0, "Speaker 1")])
    again = upsert_video_rows(video_dir, settings)  # the speakers changed: rows made again
    assert again.embedded == first.rows == again.rows and len(loads) == 2
    rows = open_store(settings).video_rows("file-abc")
    first_chunk = [r.speakers for r in rows if r.chunk_index == 0]
    assert len(first_chunk) >= 2  # 280 words: more than one unit of 256 word pieces
    assert first_chunk[0][0] == "Speaker 1" and first_chunk[-1] == ("Speaker 2",)
    assert [r.speakers for r in rows if r.chunk_index == 1] == [("Speaker 1",)]
    assert not any("Speaker" in r.text for r in rows)  # the index reads the words alone
    assert upsert_video_rows(video_dir, settings).embedded == 0
    hits = search("volcanoes and magma", settings, 10, filters=SearchFilters(speaker="1"))
    assert hits and all("Speaker 1" in h.speakers for h in hits)
    assert "Speaker 2" in search("volcanoes and magma", settings, 1)[0].speakers
    found_speakers(video_dir, [(0.0, 19.0, "Speaker 1")], key="another transcript")
    stale = upsert_video_rows(video_dir, settings)  # speakers of another transcript: unused
    assert stale.embedded == stale.rows and {
        r.speakers for r in open_store(settings).video_rows("file-abc")} == {()}


def test_the_summary_is_one_video_level_entry_that_search_finds(settings, loads):
    """The abstract and key moments are stored as chunk -1 (no moments, no speakers); a
    summary that later fails takes its entry out; the passages stay."""
    from scribeflow.core.files import VideoPaths
    from scribeflow.core.records import SUMMARY_CHUNK
    from scribeflow.index.search import search
    from scribeflow.writing.summarize import KeyMoment, VideoSummary

    video_dir = make_video(settings.data_dir, CHUNKS[:2])
    summary = VideoSummary(abstract="A lesson on how the ocean feeds the clouds, then on "
                                    "volcanoes.",
                           key_moments=(KeyMoment("Magma rises.", 10.0, CHUNKS[1], 100.0),),
                           covered_s=30.0, duration_s=30.0)
    path = VideoPaths(Path(video_dir)).summary
    write_json_atomic(path, summary.to_dict())
    found_speakers(video_dir, [(0.0, 19.0, "Speaker 1")])
    stored = upsert_video_rows(video_dir, settings)
    rows = open_store(settings).video_rows("file-abc")
    entry = [r for r in rows if r.chunk_index == SUMMARY_CHUNK]
    assert stored.rows == 3 and len(entry) == 1
    assert entry[0].text == ("A lesson on how the ocean feeds the clouds, then on volcanoes. "
                             "00:10 Magma rises.")  # units are made of the words
    assert (entry[0].start, entry[0].end, entry[0].speakers) == (0.0, 30.0, ())
    hits = search("what is the lesson about", settings, 3)
    assert hits[0].summary and hits[0].start == 0.0 and not any(h.summary for h in hits[1:])
    # a key point of the summary plays from its moment
    assert {m.start for m in entry[0].moments} == {0.0, 10.0}
    assert upsert_video_rows(video_dir, settings).embedded == 0  # unchanged: nothing redone
    write_json_atomic(path, VideoSummary(failed="the LLM could not be reached").to_dict())
    upsert_video_rows(video_dir, settings)
    assert [r.chunk_index for r in open_store(settings).video_rows("file-abc")] == [0, 1]
