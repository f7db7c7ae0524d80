"""Readable subtitles: cues cut from real transcripts' word timestamps keep every broadcast
rule, and real parsers (ffmpeg's WebVTT and SubRip readers) read what is written."""

import json
import subprocess
from pathlib import Path

import pytest

from scribeflow.core.links import timestamp
from scribeflow.core.records import Segment, Transcript, Word
from scribeflow.speech import subtitles
from scribeflow.speech.subtitles import Cue, SubtitleStyle, cues, problems, to_srt, to_text, to_vtt
from scribeflow.speech.whisper import TranscribeOptions, transcribe
from support.media import require_tools

#: A lecture with a long sentence (one whisper segment of 130+ characters, which the old
#: one-cue-per-segment subtitles showed as one line for 7.5 s), short ones and a pause.
ENGLISH = ("Welcome to this short lesson about the water cycle. The sun heats the ocean and "
           "water rises into the sky as vapor, which drifts across the mountains for many "
           "days before anything happens, and nobody can tell when it will fall. Yes. When the "
           "droplets grow heavy they fall back to the ground as rain or snow. Rivers carry the "
           "water back to the sea, and the cycle begins again.")
GERMAN = ("Der Wasserkreislauf beginnt im Meer. Die Sonne erwärmt das Wasser, und es steigt als "
          "Dampf in den Himmel, wo es über die Berge zieht, bis niemand mehr weiß, wann es "
          "fallen wird. Flüsse tragen das Wasser zurück ins Meer.")
#: base's transcript (word times included) of a real recording: f5-tts 1.1.22's
#: ``infer/examples/basic/basic_ref_zh.wav``, "对，这就是我，万人敬仰的太乙真人。" (espeak-ng's
#: Mandarin is not intelligible to whisper base).
CHINESE = Path(__file__).parents[2] / "fixtures" / "basic_ref_zh.transcript.json"


def _spoken(tmp_path, name, voice, text):
    require_tools()
    path = tmp_path / f"{name}.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-s", "160", "-w", str(path), text], check=True)
    return path


@pytest.fixture(scope="module")
def transcripts(tmp_path_factory):
    """Real transcripts: English through tiny.en, German and Mandarin through base."""
    folder = tmp_path_factory.mktemp("speech")
    return {
        "en": transcribe(_spoken(folder, "en", "en-us", ENGLISH), "en",
                         TranscribeOptions(device="cpu", language="en")),
        "de": transcribe(_spoken(folder, "de", "de", GERMAN), "de",
                         TranscribeOptions(device="cpu")),
        "zh": Transcript.from_dict(json.loads(CHINESE.read_text())),
    }


def _words(text):
    return text.split()


@pytest.mark.parametrize("language", ["en", "de", "zh"])
def test_cues_of_real_transcripts_keep_every_rule(transcripts, language):
    transcript = transcripts[language]
    style = SubtitleStyle.for_language(language)
    made = cues(transcript.segments, style)
    assert made and problems(made, style) == []
    if language == "zh":  # written without spaces: 16 characters a line, no spaces added
        assert style.line_chars == 16 and all(" " not in line for c in made for line in c.lines)
        assert "".join(line for c in made for line in c.lines) == "".join(
            w.word.strip() for s in transcript.segments for w in s.words)
    else:  # every word in order, none cut: lines break between words only
        assert [w for c in made for line in c.lines for w in _words(line)] == [
            w.word.strip() for s in transcript.segments for w in s.words]
    # the old subtitles, one cue per segment, broke the rules on the long sentence
    if language == "en":
        old = [Cue(s.start, s.end, (s.text,)) for s in transcript.segments]
        assert any("characters" in p for p in problems(old, style))
        assert len(made) > len(transcript.segments)


def test_chinese_lines_break_between_characters(transcripts):
    style = SubtitleStyle.for_language("zh", line_chars=8)
    (cue,) = cues(transcripts["zh"].segments, style)
    assert "".join(cue.lines) == "對,這就是我萬人形樣的太以真人" and len(cue.lines) == 2
    assert problems([cue], style) == [] and max(len(line) for line in cue.lines) <= 8


def test_a_shorter_line_and_one_line_cues_are_kept(transcripts):
    style = SubtitleStyle.for_language("en", line_chars=32, lines=1)
    made = cues(transcripts["en"].segments, style)
    assert problems(made, style) == [] and all(len(c.lines) == 1 for c in made)
    assert max(len(c.lines[0]) for c in made) <= 32


def test_lines_break_at_punctuation_and_before_a_phrase():
    words = [("The", 0.0), ("sun", 0.2), ("heats", 0.4), ("the", 0.6), ("ocean,", 0.8),
             ("and", 1.2), ("water", 1.4), ("rises", 1.6), ("into", 1.8), ("the", 2.0),
             ("sky", 2.2), ("as", 2.4), ("vapor.", 2.6)]
    segment = Segment(id=0, start=0.0, end=3.0, text=" ".join(w for w, _ in words),
                      words=tuple(Word(t, t + 0.2, " " + w) for w, t in words))
    (cue,) = cues([segment], SubtitleStyle(line_chars=42))
    assert cue.lines == ("The sun heats the ocean,", "and water rises into the sky as vapor.")
    narrow = cues([segment], SubtitleStyle(line_chars=30))
    assert narrow[0].lines[0] == "The sun heats the ocean,"  # the comma, not the 30th letter
    assert all(len(line) <= 30 for c in narrow for line in c.lines)


def test_fast_speech_is_held_longer_but_never_over_the_next_cue():
    """41 characters spoken in 1 s need 2.05 s on screen at 20 a second: the cue starts a
    little before its words and takes time the next cue can spare, without overlapping it."""
    said = ("Absolutely", "wonderful,", "unbelievable", "things.")
    fast = Segment(id=0, start=10.0, end=11.0, text=" ".join(said),
                   words=tuple(Word(10 + i / 4, 10.25 + i / 4, " " + w)
                               for i, w in enumerate(said)))
    after = Segment(id=1, start=11.3, end=13.5, text="Next one.",
                    words=(Word(11.3, 12.0, " Next"), Word(12.0, 13.5, " one.")))
    first, second = cues([fast, after])
    assert first.start >= 10.0 - subtitles.LEAD_IN_S and first.end <= second.start
    assert first.end - first.start >= 41 / 20 - 1e-3
    assert problems([first, second], SubtitleStyle()) == []


def test_written_files_are_read_by_ffmpeg(transcripts, tmp_path):
    """ffmpeg's WebVTT and SubRip demuxers read both files, cue for cue."""
    require_tools()
    made = cues(transcripts["en"].segments)
    (tmp_path / "t.vtt").write_text(to_vtt(made))
    (tmp_path / "t.srt").write_text(to_srt(made))
    for source, target in (("t.vtt", "from-vtt.srt"), ("t.srt", "from-srt.vtt")):
        proc = subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i",
                               str(tmp_path / source), str(tmp_path / target)],
                              capture_output=True, text=True)
        assert proc.returncode == 0 and not proc.stderr, proc.stderr
    converted = (tmp_path / "from-vtt.srt").read_text()
    assert converted.count(" --> ") == len(made)
    assert [line for line in converted.splitlines() if line and "-->" not in line
            and not line.isdigit()] == [line for c in made for line in c.lines]


def test_translated_cues_stay_on_their_source_cues_times():
    source = [Cue(0.0, 2.0, ("Hello there.",)), Cue(2.5, 4.0, ("It rains.",))]
    long = ("Es regnet heute sehr stark über den Bergen, und niemand weiß, wann es wieder "
            "aufhören wird, sagte der Wetterdienst.")
    made = subtitles.translated_cues(source, ["Hallo.", long], SubtitleStyle())
    assert made[0] == Cue(0.0, 2.0, ("Hallo.",))
    assert len(made) >= 3 and all(2.5 <= c.start < c.end <= 4.0 for c in made[1:])
    assert " ".join(" ".join(c.lines) for c in made[1:]) == long


@pytest.mark.parametrize(
    ("seconds", "sep", "expected"),
    [(0, ",", "00:00:00,000"), (1.5, ",", "00:00:01,500"), (3661.2504, ".", "01:01:01.250"),
     (-3, ",", "00:00:00,000"), (59.9996, ",", "00:01:00,000")],
)
def test_timestamp(seconds, sep, expected):
    assert timestamp(seconds, sep) == expected


def test_srt_vtt_and_text():
    made = [Cue(0.0, 1.5, ("Hello there.",)), Cue(3661.25, 3662.0, ("An hour", "--> later"))]
    assert to_srt(made) == ("1\n00:00:00,000 --> 00:00:01,500\nHello there.\n\n"
                            "2\n01:01:01,250 --> 01:01:02,000\nAn hour\n--> later\n")
    vtt = to_vtt(made)
    assert vtt.startswith("WEBVTT\n\n00:00:00.000 --> 00:00:01.500\nHello there.\n")
    assert "An hour\n-> later" in vtt
    segments = [Segment(id=0, start=0.0, end=1.5, text=" Hello there. "),
                Segment(id=1, start=1.5, end=1.5, text="   ")]
    assert to_text(segments) == "Hello there.\n"
    assert to_srt([]) == "" and to_vtt([]) == "WEBVTT\n\n" and cues([]) == []


def _said(speaker, start, text, step=0.25):
    words = tuple(Word(start + i * step, start + (i + 1) * step - 0.05, f" {w}")
                  for i, w in enumerate(text.split()))
    return Segment(id=0, start=start, end=words[-1].end, text=text, words=words, speaker=speaker)


def test_a_quick_exchange_shares_one_cue_as_a_dialogue_each_line_naming_its_speaker(tmp_path):
    talk = [_said("Speaker 1", 0.0, "Ready?"), _said("Speaker 2", 0.4, "Yes."),
            _said("Speaker 1", 3.0, "Then we leave before the rain comes down.")]
    made = cues(talk)
    assert [c.lines for c in made] == [
        ("- Speaker 1: Ready?", "- Speaker 2: Yes."),
        ("Speaker 1: Then we leave", "before the rain comes down.")]
    assert made[0].dialogue == ("Speaker 1", "Speaker 2") and made[0].speaker is None
    assert made[1].speaker == "Speaker 1" and problems(made, SubtitleStyle()) == []
    vtt = to_vtt(made)
    assert "<v Speaker 1>- Ready?</v>\n<v Speaker 2>- Yes.</v>" in vtt
    assert "<v Speaker 1>Then we leave" in vtt
    require_tools()
    for name, text in (("talk.srt", to_srt(made)), ("talk.vtt", vtt)):
        (tmp_path / name).write_text(text)
        read = subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-i",
                               str(tmp_path / name), "-f", "srt", "-"],
                              capture_output=True, text=True, check=True).stdout
        assert "Ready?" in read and "Yes." in read and "comes down." in read


def test_a_dialogue_is_made_only_where_each_line_fits_and_one_speaker_holds_it():
    long = "Then we leave before the rain comes down on us all."
    made = cues([_said("Speaker 1", 0.0, "Ready?"), _said("Speaker 2", 0.4, long, 0.1)])
    assert not any(c.dialogue for c in made)  # "- Speaker 2: Then we …" is over 42 characters
    one = cues([_said("Speaker 1", 0.0, "Ready?"), _said("Speaker 2", 0.4, "Yes.")],
               SubtitleStyle(lines=1))
    assert not any(c.dialogue for c in one)  # a one-line style has no room for two
    same = cues([_said(None, 0.0, "Ready?"), _said(None, 0.4, "Yes.")])
    assert [c.lines for c in same] == [("Ready? Yes.",)] and not same[0].dialogue
