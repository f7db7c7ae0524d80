"""Who spoke when, on real recordings: pyannote.audio's two women on the phone (with its
RTTM), F5-TTS's readers; espeak-ng speech and music for what must not become a speaker."""

from __future__ import annotations

import itertools
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from scribeflow.core.config import PipelineSettings
from scribeflow.core.errors import ConfigError
from scribeflow.core.records import Diarization, Segment, SpeakerTurn, Transcript, Word
from scribeflow.speech import speakers, subtitles
from scribeflow.speech.whisper import TranscribeOptions, transcribe
from support.media import require_tools, wheel_files

CALL = {"pyannote.audio==3.3.2": ("pyannote/audio/sample/sample.wav",
                                  "pyannote/audio/sample/sample.rttm")}
READER = {"f5-tts==1.1.22": ("f5_tts/infer/examples/basic/basic_ref_en.wav",)}


def _16k(path, out):
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(path), "-ac",
                    "1", "-ar", "16000", str(out)], check=True)
    return out


#: tiny.en's transcript of the call (``language=en``, the product's settings), words timed.
#: Kept, not made in the test: whisper's word times moved by 20 ms between a fresh process
#: and a pytest-xdist worker, and the windows, so the turns, with them.
CALL_TRANSCRIPT = Path(__file__).parents[2] / "fixtures" / "call.transcript.json"


@pytest.fixture(scope="module")
def call(tmp_path_factory):
    """The call as the pipeline's WAV, its transcript and its true turns."""
    require_tools()
    folder = tmp_path_factory.mktemp("call")
    wav, rttm = wheel_files(folder, CALL)
    audio = _16k(wav, folder / "call.wav")
    truth = [(float(f[3]), float(f[3]) + float(f[4]), f[7])
             for f in (line.split() for line in rttm.read_text().splitlines())]
    return audio, Transcript.from_dict(json.loads(CALL_TRANSCRIPT.read_text())), truth


def _agreement(turns, truth):
    """The share of the call's single-speaker words labelled as its true speaker, after the
    best one-to-one mapping of labels."""
    from scipy.optimize import linear_sum_assignment

    people = sorted({p for *_, p in truth})
    names = sorted({t.speaker for t in turns})
    counts = np.zeros((len(people), len(names)))
    for t in turns:
        middle = (t.start + t.end) / 2
        true = {p for a, b, p in truth if a <= middle < b}
        if len(true) == 1:
            counts[people.index(true.pop()), names.index(t.speaker)] += t.end - t.start
    rows, cols = linear_sum_assignment(-counts)
    return counts[rows, cols].sum() / counts.sum()


def test_two_people_on_the_phone_are_two_speakers_with_their_turns(call):
    audio, transcript, truth = call
    found = speakers.diarize(audio, transcript.segments, speakers.SpeakerOptions())
    assert [s.speaker for s in found.speakers] == ["Speaker 1", "Speaker 2"]
    assert _agreement(found.turns, truth) >= 0.85  # bench/diarization_eval.py scores by frame
    assert len(found.turns) >= 5  # they take turns, as the RTTM says
    talk = {s.speaker: s.talk_s for s in found.speakers}
    assert min(talk.values()) > 5 and sum(talk.values()) <= transcript.duration
    # a count given is a count kept
    three = speakers.diarize(audio, transcript.segments, speakers.SpeakerOptions(num_speakers=3))
    assert len(three.speakers) == 3
    # two voices in the first pass: every window, clustered as one pass would
    every = speakers.windows(speakers.speech_spans(transcript.segments))
    assert found.windows == three.windows == len(every)
    encoder = speakers.encoder()
    vectors = np.concatenate([encoder.embed(p) for p in speakers.window_samples(audio, every)])
    assert found.turns == speakers._turns(transcript.segments, every, speakers.cluster(
        vectors, speakers._fresh(every), speakers.SpeakerOptions()))


def test_labelled_words_and_segments_follow_the_turns(call):
    audio, transcript, _ = call
    found = speakers.diarize(audio, transcript.segments, speakers.SpeakerOptions())
    heard = speakers.labelled(transcript, found)
    assert all(s.speaker and all(w.speaker == s.speaker for w in s.words) for s in heard.segments)
    assert [s.id for s in heard.segments] == list(range(len(heard.segments)))
    assert len(heard.segments) >= len(transcript.segments)
    words = [w.word for s in heard.segments for w in s.words]
    assert words == [w.word for s in transcript.segments for w in s.words]  # none lost
    # every cue holds one speaker; a turn's first cue names its speaker
    cues = subtitles.cues(heard.segments)
    assert {c.speaker for c in cues} == {"Speaker 1", "Speaker 2"}
    # lines, lengths and overlaps keep the rules; a quick exchange ("Hello. Hello." in 1.7 s
    # before the other answers) can be read faster than 20 characters a second, as cues of
    # one speaker each cannot be held into the next speaker's words
    assert [p for p in subtitles.problems(cues, subtitles.SubtitleStyle())
            if "characters a second" not in p] == []
    srt, vtt = subtitles.to_srt(cues), subtitles.to_vtt(cues)
    assert "Speaker 1:" in srt and "Speaker 2:" in srt
    assert "<v Speaker 2>" in vtt and "Speaker 2:" not in vtt
    text = subtitles.to_text(heard.segments)
    assert text.startswith(f"{heard.segments[0].speaker}: ")


def test_one_reader_is_one_speaker_and_is_not_labelled(tmp_path):
    require_tools()
    (wav,) = wheel_files(tmp_path, READER)
    audio = tmp_path / "reader.wav"  # her 5 s read four times: long spans of one voice
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-stream_loop", "3", "-i",
                    str(wav), "-ac", "1", "-ar", "16000", str(audio)], check=True)
    transcript = transcribe(audio, "r", TranscribeOptions(model="tiny.en", device="cpu",
                                                          language="en"))
    found = speakers.diarize(audio, transcript.segments, speakers.SpeakerOptions())
    assert len(found.speakers) == 1 and found.turns
    assert speakers.labelled(transcript, found) == transcript  # nothing to tell apart
    # one voice in the first pass: the windows between its windows were never embedded
    spans = speakers.speech_spans(transcript.segments)
    first = speakers.alternate(spans)
    assert found.windows == len(first) < len(speakers.windows(spans))
    # only a span's last window may overlap the one before it
    assert sum(c < b - 1e-9 for (_, b), (c, _) in itertools.pairwise(first)) <= len(spans)


def test_music_and_silence_are_nobody(tmp_path):
    """Speech between music and silence: one speaker; music alone: none."""
    require_tools()
    speech = tmp_path / "speech.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(speech), "The sun heats the ocean "
                    "and water rises into the sky as vapor. High in the air it forms clouds."],
                   check=True)
    mixed = tmp_path / "mixed.wav"
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y",
                    "-f", "lavfi", "-i", "sine=frequency=440:duration=4",
                    "-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono:d=3", "-i", str(speech),
                    "-f", "lavfi", "-i", "sine=frequency=660:duration=4", "-filter_complex",
                    "[0][1][2][3]concat=n=4:v=0:a=1", "-ac", "1", "-ar", "16000", str(mixed)],
                   check=True)
    transcript = transcribe(mixed, "m", TranscribeOptions(model="tiny.en", device="cpu",
                                                          language="en"))
    found = speakers.diarize(mixed, transcript.segments, speakers.SpeakerOptions())
    assert len(found.speakers) == 1
    assert found.turns[0].start >= 6.5 and found.turns[-1].end <= transcript.duration - 3.5
    music = tmp_path / "music.wav"
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    "sine=frequency=440:duration=6", "-ac", "1", "-ar", "16000", str(music)],
                   check=True)
    heard = transcribe(music, "music", TranscribeOptions(model="tiny.en", device="cpu",
                                                         language="en"))
    nobody = speakers.diarize(music, heard.segments, speakers.SpeakerOptions())
    assert nobody.speakers == () and nobody.windows == 0


def test_smoothing_and_splitting_by_turns():
    assert speakers._smoothed([0, 0, 0, 1, 0, 0, 1, 1, 1]) == [0] * 6 + [1] * 3
    words = (Word(0.0, 0.4, " Hello"), Word(0.5, 0.9, " there."), Word(1.2, 1.5, " Hi!"))
    transcript_turns = Diarization(
        turns=(SpeakerTurn(0.0, 0.9, "Speaker 1"), SpeakerTurn(1.2, 1.5, "Speaker 2")),
        speakers=speakers.speaker_stats((SpeakerTurn(0.0, 0.9, "Speaker 1"),
                                         SpeakerTurn(1.2, 1.5, "Speaker 2"))),
        model="m", windows=2, processing_s=0.1)
    transcript = Transcript(video_id="v", language="en", language_probability=None,
                            duration=2.0, model="m", device="cpu", compute_type="int8",
                            settings={}, segments=(Segment(0, 0.0, 1.5, " Hello there. Hi!",
                                                           words),), processing_s=0.1)
    heard = speakers.labelled(transcript, transcript_turns)
    assert [(s.id, s.text, s.speaker) for s in heard.segments] == [
        (0, "Hello there.", "Speaker 1"), (1, "Hi!", "Speaker 2")]
    assert transcript_turns.speakers[0].talk_s == 0.9 and transcript_turns.speakers[1].first_s == 1.2


@pytest.mark.parametrize(("values", "cause"), [
    ({"num_speakers": 25}, "num_speakers must be from 0 to 20, not 25"),
    ({"min_speakers": 0}, "min_speakers must be from 1 to 20, not 0"),
    ({"min_speakers": 4, "max_speakers": 2}, "min_speakers 4 is more than max_speakers 2"),
])
def test_speaker_counts_out_of_range_are_one_line(values, cause):
    with pytest.raises(ConfigError) as caught:
        PipelineSettings.from_env(values)
    assert str(caught.value) == cause


def test_windows_are_read_where_they_lie_and_a_file_that_is_not_wav_is_one_line(tmp_path):
    from scribeflow.core.errors import BadInputError

    samples = (np.arange(48000) % 1000).astype("<i2")
    path = tmp_path / "ramp.wav"
    import wave

    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(16000)
        wav.writeframes(samples.tobytes())
    batches = list(speakers.window_samples(path, [(0.5, 2.0), (1.25, 2.75), (2.5, 3.0)], 2))
    assert [len(b) for b in batches] == [2, 1]
    first, second = batches[0]
    assert len(first) == 24000 and first[0] == samples[8000] / 32768.0
    assert len(second) == 24000 and second[-1] == samples[43999] / 32768.0
    assert len(batches[1][0]) == 8000  # the last window ends with the file
    bad = tmp_path / "bad.wav"
    bad.write_text("not audio")
    with pytest.raises(BadInputError, match="^bad.wav is not a readable WAV file"):
        list(speakers.window_samples(bad, [(0.0, 1.0)]))
