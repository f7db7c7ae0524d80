"""Whether a transcript can be trusted: its decoder's own figures, and the detected language.

An English-only model (``*.en``) given other speech writes confident-looking English that was
never said; a multilingual model unsure of the language may mix two. Both show in the figures
faster-whisper reports with every segment and with its language detection.
"""

from __future__ import annotations

from dataclasses import dataclass

from scribeflow.core.links import clock
from scribeflow.core.records import Transcript
from scribeflow.speech.models import english_only

#: faster-whisper's own limits for a decoded chunk it would decode again at a higher
#: temperature: repetitive text, or a guess.
MAX_COMPRESSION_RATIO = 2.4


#: Below this mean log-probability the decoder is guessing (faster-whisper's own
#: ``log_prob_threshold`` for a failed window). Measured on tiny.en: English speech -0.49,
#: Spanish -1.44, German -2.30.
MIN_AVG_LOGPROB = -1.0
#: A transcript whose decoder's first try failed (``Segment.fallback``, or a mean
#: log-probability under ``MIN_AVG_LOGPROB``) for this share of the speech, with words it is
#: not sure of, cannot be trusted.
MAX_GUESSED_SHARE = 0.5
#: Under this mean word probability the model is guessing most words. Measured on tiny.en,
#: batched: espeak-ng English 0.86 (its least sure sentence 0.64), Spanish 0.50, German
#: 0.54; Spanish can pass both checks above ("I'm not sure if it's possible" three times,
#: log-probability -0.98, compression ratio 2.15).
MIN_WORD_PROBABILITY = 0.6
#: Fewer words than this say little by their probabilities (a 1.5 s English clip through
#: tiny.en: "A warm-up clip.", mean word probability 0.52).
MIN_WORDS_TO_JUDGE = 8
#: Unsure words alone are not enough: they must come with a log-probability under this. A
#: 9-word English sentence through tiny.en had word probability 0.58 at -0.67 (8 words
#: right); Spanish through it, 0.4 at -0.98.
GUESSING_LOGPROB = -0.8
#: Speech mostly from the fallback is unreadable unless the fallback is this sure of its words.
MAX_FALLBACK_WORD_PROBABILITY = 0.8


@dataclass(frozen=True)
class SpeechProblem:
    """Why a transcript cannot be trusted, with the fix."""

    message: str
    #: The run ends ``degraded`` (an English-only model on other speech), or only warns.
    degrades: bool


def unreadable_speech(transcript: Transcript) -> SpeechProblem | None:
    """What is wrong with the transcript's speech, or None.

    An English-only model (``*.en``) given other speech writes confident-looking English that
    was never said. Its own figures give it away: a low mean log-probability, text that its
    first try could not decode (its fallback's, see ``Segment.fallback``) for at least half of
    the speech, or words it is mostly unsure of."""
    score = transcript.avg_logprob
    spoken = sum(max(s.end - s.start, 0.01) for s in transcript.segments)
    guessed = sum(max(s.end - s.start, 0.01) for s in transcript.segments
                  if s.fallback or (s.avg_logprob is not None and s.avg_logprob < MIN_AVG_LOGPROB))
    if score is None or not spoken:
        return None
    share = guessed / spoken
    words = [w.probability for s in transcript.segments for w in s.words
             if w.probability is not None]
    word_probability = sum(words) / len(words) if words else 1.0
    guessing = (len(words) >= MIN_WORDS_TO_JUDGE and word_probability < MIN_WORD_PROBABILITY
                and score < GUESSING_LOGPROB)
    # a fallback that is sure of its words read the speech (a real English recording: 69%
    # of it from the fallback, word probability 0.94, log-probability -0.18)
    fell_back = share >= MAX_GUESSED_SHARE and word_probability < MAX_FALLBACK_WORD_PROBABILITY
    if score >= MIN_AVG_LOGPROB and not guessing and not fell_back:
        return None
    figures = (f"log-probability {score:.2f}, word probability {word_probability:.2f}, first "
               f"try failed on {share:.0%}")
    if english_only(transcript.model):  # the fix first: a UI note may cut the figures off
        return SpeechProblem(
            f"the English-only model {transcript.model} could not read this speech, probably "
            "not English: set whisper_model to base (bundled, 99 languages; --whisper-model "
            f"base) or auto and run again; nothing was kept ({figures})", degrades=True)
    return SpeechProblem(
        f"low transcript confidence ({figures}): the audio may be noisy, music, or in another "
        f"language than {transcript.language}", degrades=False)


#: Under this probability the detected language is reported as a guess.
MIN_LANGUAGE_PROBABILITY = 0.5


def language_warnings(transcript: Transcript) -> list[str]:
    """What users should know about the language whisper detected: that it was unsure, or
    that pieces of the speech sound like another language (the transcript is in one)."""
    if transcript.settings.get("language") not in (None, "", "auto"):
        return []  # the run named the language
    warnings = []
    probability = transcript.language_probability
    if probability is not None and probability < MIN_LANGUAGE_PROBABILITY:
        warnings.append(f"the spoken language is uncertain: {transcript.language} at probability "
                        f"{probability:.2f}; if that is wrong, set the run's language")

    other = [h for h in transcript.languages
             if h.language != transcript.language and h.probability >= MIN_LANGUAGE_PROBABILITY]
    if other:
        heard = ", ".join(f"{clock(h.start)} like {h.language} ({h.probability:.2f})"
                          for h in other[:3])
        warnings.append(f"the speech changes language: detected {transcript.language}, but it "
                        f"sounds at {heard}{' and later' if len(other) > 3 else ''}; "
                        "those parts may be mistranscribed")
    return warnings
