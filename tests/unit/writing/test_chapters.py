import pytest

from scribeflow.core.links import clock
from scribeflow.core.records import Segment, Word
from scribeflow.writing.chapters import (
    Chapter,
    ChapterParseError,
    locate,
    merge,
    parse_proposals,
    with_chapter_headings,
    youtube_list,
)

TEXT = ("welcome to this lesson about the water cycle . the sun heats the ocean . "
        "next we talk about volcanoes . hot melted rock called magma pushes up through the crust . "
        "now let us look at baking bread . you mix flour water salt and yeast")


def segments() -> list[Segment]:
    words = [Word(start=i * 0.5, end=i * 0.5 + 0.4, word=" " + w, probability=1.0)
             for i, w in enumerate(TEXT.split()) if w != "."]
    return [Segment(id=0, start=0.0, end=words[-1].end, text=TEXT.replace(" .", "."),
                    words=tuple(words))]


@pytest.mark.parametrize(
    "answer",
    [
        '[{"title": "Volcanoes", "start": "Next we talk about volcanoes."}]',
        'Sure! Here are the chapters:\n```json\n[{"title": "Volcanoes", '
        '"start_sentence": "Next we talk about volcanoes."}]\n```',
        "1. Volcanoes | Next we talk about volcanoes.",
        "- **Volcanoes**: \"Next we talk about volcanoes.\"",
    ],
)
def test_parse_proposals(answer):
    assert parse_proposals(answer) == [("Volcanoes", "Next we talk about volcanoes.")]


@pytest.mark.parametrize("answer", ["", "I cannot do that.", "[]", '[{"title": "x"}]'])
def test_unparseable_proposals(answer):
    with pytest.raises(ChapterParseError):
        parse_proposals(answer)


def test_locate_exact_and_paraphrased_sentences():
    segs = segments()
    start_of = {w.word.strip(): w.start for w in segs[0].words}
    assert locate("Next we talk about volcanoes.", segs) == (start_of["next"], 100.0)
    paraphrase = locate("Now let's look at how to bake bread", segs)
    assert paraphrase is not None and paraphrase[0] == start_of["now"] and paraphrase[1] >= 70
    assert locate("Quantum chromodynamics of gluons", segs) is None
    assert locate("Next we talk about volcanoes.", segs, start=start_of["next"] + 2) is None


def test_merge_orders_dedupes_and_starts_at_zero():
    chapters = [Chapter("Bread", 16.0, "s", 90), Chapter("Volcanoes", 6.5, "s", 100),
                Chapter("Volcanoes again", 10.0, "s", 80), Chapter("bread", 60.0, "s", 90),
                Chapter("Intro", 0.0, "s", 95)]
    merged = merge(chapters, min_gap_s=5)
    # "Volcanoes again" is 3.5 s after "Volcanoes"; "bread" repeats the previous title
    assert [(c.title, c.start) for c in merged] == [("Intro", 0.0), ("Volcanoes", 6.5),
                                                    ("Bread", 16.0)]
    assert merge([Chapter("Late start", 12.0, "s", 90)])[0].start == 0.0


def test_youtube_list_and_clock():
    assert clock(0) == "00:00" and clock(75.9) == "01:15" and clock(3725) == "1:02:05"
    chapters = [Chapter("Intro", 0.0, "s", 100), Chapter("Volcanoes", 75.0, "s", 100)]
    assert youtube_list(chapters) == "00:00 Intro\n01:15 Volcanoes\n"
    assert youtube_list([]) == ""


def test_headings_go_before_the_sentence_a_chapter_starts_at():
    chunks = [{"start": 0.0, "end": 6.0, "text": "## Water\n\nThe sun heats."},
              {"start": 6.0, "end": 15.0, "text": "Volcanoes erupt."},
              {"start": 15.0, "end": 20.0, "text": "Bread rises."}]
    chapters = [Chapter("Intro", 0.0, "s", 100), Chapter("Volcanoes", 6.5, "volcanoes erupt", 100)]
    doc = with_chapter_headings(chunks, chapters)
    assert doc == ("## Intro\n\n### Water\n\nThe sun heats.\n\n## Volcanoes\n\n"
                   "Volcanoes erupt.\n\nBread rises.")


def test_a_chapter_that_starts_inside_a_chunk_splits_it_at_its_sentence():
    # one chunk, two chapters (at 0 and 28 s): the second heading goes where its sentence is
    text = ("Speaker 1: Welcome to the show. Today we cook. Rivers carry water to the sea.\n\n"
            "They flow for miles.")
    chunks = [{"start": 0.0, "end": 40.0, "text": text}]
    chapters = [Chapter("Cooking", 0.0, "Welcome to the show.", 100),
                Chapter("Rivers", 28.0, "rivers carry the water back to the sea", 88)]
    # the speaker's label is not part of the sentence a chapter starts with
    assert with_chapter_headings(
        [{"start": 0.0, "end": 40.0, "text": "Hello there, friends.\n\nSpeaker 2: Rivers "
                                             "carry the water back to the sea."}],
        [Chapter("Rivers", 5.0, "Rivers carry the water back to the sea.", 95)]
    ) == ("Hello there, friends.\n\n## Rivers\n\nSpeaker 2: Rivers carry the water back to "
          "the sea.")
    doc = with_chapter_headings(chunks, chapters)
    assert doc == ("## Cooking\n\nSpeaker 1: Welcome to the show. Today we cook.\n\n"
                   "## Rivers\n\nSpeaker 1: Rivers carry water to the sea.\n\n"
                   "They flow for miles.")


def test_a_rewritten_sentence_is_placed_by_the_chapter_time():
    chunks = [{"start": 0.0, "end": 30.0,
               "text": "One two three. Four five six. Seven eight nine. Ten eleven twelve."}]
    # nothing like the quoted sentence is left: 20 s of 30 is the third sentence
    chapters = [Chapter("Start", 0.0, "x", 100), Chapter("Late", 20.0, "zzz qqq www", 90)]
    doc = with_chapter_headings(chunks, chapters)
    assert doc == ("## Start\n\nOne two three. Four five six.\n\n## Late\n\n"
                   "Seven eight nine. Ten eleven twelve.")


@pytest.mark.parametrize("answer", [
    # the chaptering design document's own key, pretty-printed as models do
    '[\n  {\n    "title": "Volcanoes",\n    "start_text": "Next we talk about volcanoes."\n  }\n]',
    '{"chapters": [{"chapter_title": "Volcanoes", "first_sentence": "Next we talk about '
    'volcanoes."}]}',
    '[{"Heading": "Volcanoes", "Starting_Sentence": "Next we talk about volcanoes."}]',
])
def test_common_key_names_are_read(answer):
    assert parse_proposals(answer) == [("Volcanoes", "Next we talk about volcanoes.")]


@pytest.mark.parametrize("answer", [
    '[\n  {\n    "label": "Volcanoes",\n    "body": "Next we talk about volcanoes here."\n  }\n]',
    '"start_text": "Next we talk about volcanoes and magma."',
    "start_text: Next we talk about volcanoes and magma.",
])
def test_a_json_key_is_never_a_title(answer):
    with pytest.raises(ChapterParseError):
        parse_proposals(answer)
