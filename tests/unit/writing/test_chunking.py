import pytest

from scribeflow.core.records import Segment
from scribeflow.writing.chunking import group_chunks, split_into_chunks


def seg(i: int, words: int, start: float | None = None) -> Segment:
    start = float(i) if start is None else start
    return Segment(id=i, start=start, end=start + 0.9, text=" ".join(f"w{i}" for _ in range(words)))


def test_chunks_close_at_segment_boundaries():
    segments = [seg(i, 4) for i in range(10)]
    chunks = split_into_chunks(segments, chunk_words=10)
    assert [c.segment_ids for c in chunks] == [(0, 1), (2, 3), (4, 5), (6, 7), (8, 9)]
    assert [c.index for c in chunks] == [0, 1, 2, 3, 4]
    assert chunks[1].start == 2.0 and chunks[1].end == pytest.approx(3.9)
    assert chunks[0].text == "w0 w0 w0 w0 w1 w1 w1 w1"


def test_long_segment_is_its_own_chunk_and_empty_segments_drop():
    segments = [seg(0, 3), Segment(id=1, start=1, end=2, text="  "), seg(2, 50), seg(3, 3)]
    chunks = split_into_chunks(segments, chunk_words=10)
    assert [c.segment_ids for c in chunks] == [(0,), (2,), (3,)]


def test_no_segments_no_chunks():
    assert split_into_chunks([], chunk_words=10) == []


def test_chunk_size_must_be_positive():
    with pytest.raises(ValueError):
        split_into_chunks([seg(0, 1)], chunk_words=0)


@pytest.mark.parametrize(
    ("n", "max_groups", "min_per_group", "expected"),
    [
        (0, 4, 8, [[]]),
        (5, 4, 8, [[0, 1, 2, 3, 4]]),
        (16, 4, 8, [list(range(8)), list(range(8, 16))]),
        (10, 4, 2, [[0, 1, 2], [3, 4, 5], [6, 7], [8, 9]]),
        (100, 4, 8, [list(range(25)), list(range(25, 50)), list(range(50, 75)), list(range(75, 100))]),
    ],
)
def test_group_chunks(n, max_groups, min_per_group, expected):
    groups = group_chunks(n, max_groups, min_per_group)
    assert groups == expected
    assert [i for g in groups for i in g] == list(range(n))


def test_group_labels_say_which_part_of_the_video_a_task_holds():
    from scribeflow.core.records import Chunk
    from scribeflow.pipeline.chunks import group_label

    chunks = [Chunk(index=i, start=i * 75.0, end=i * 75.0 + 74.5, text="t") for i in range(60)]
    assert group_label([0, 1, 2], chunks) == "chunks 0–2, 00:00–03:44"
    assert group_label([7], chunks) == "chunk 7, 08:45–09:59"
    assert group_label([58, 59], chunks) == "chunks 58–59, 1:12:30–1:14:59"
    assert group_label([], []) == "no chunks"  # a video without speech


def test_speakers_head_their_turns_and_the_index_reads_the_words_alone():
    from scribeflow.core.records import Segment
    from scribeflow.writing.chunking import spoken_text, without_speaker_labels

    text = spoken_text([Segment(0, 0.0, 1.0, " Hello there.", speaker="Speaker 1"),
                        Segment(1, 1.0, 2.0, " How are you?", speaker="Speaker 1"),
                        Segment(2, 2.0, 3.0, " Fine, Speaker 1.", speaker="Speaker 2")])
    assert text == "Speaker 1: Hello there. How are you?\n\nSpeaker 2: Fine, Speaker 1."
    assert without_speaker_labels(text) == "Hello there. How are you?\n\nFine, Speaker 1."
    # as the LLM stages keep them: in bold, with a name the speech gave
    assert without_speaker_labels("**Speaker 1 (the host):** Welcome.\n**Speaker 2**: Thanks.") \
        == "Welcome.\nThanks."
    assert spoken_text([Segment(0, 0.0, 1.0, " One voice.")]) == "One voice."
