"""The metrics: word and character error rates of normalised text, and the share of a
reference's content words a document kept."""

from __future__ import annotations

import re
import unicodedata
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    pass


_NOT_WORD = re.compile(r"[^\w']+|_")


_STRAY_APOSTROPHE = re.compile(r"(?<!\w)'|'(?!\w)")


#: Common function words, per language: not what a document must keep.
STOP_WORDS = {
    "en": set("""a about above after again against all am an and any are as at be because been
        before being below between both but by can could did do does doing down during each few
        for from further had has have having he her here hers herself him himself his how i if in
        into is it its itself just let lets let's me more most my myself no nor not now of off on
        once only or other our ours ourselves out over own same she should so some such than that
        the their theirs them themselves then there these they this those through to too under
        until up very was we were what when where which while who whom why will with would you
        your yours yourself yourselves also us every""".split()),
    "es": set("""a al algo algunas algunos ante antes como con contra cual cuando de del desde
        donde durante e el ella ellas ellos en entre era es esa esas ese eso esos esta estas este
        esto estos fue ha hay la las le les lo los mas me mi mis mucho muy ni no nos nosotros o
        otra otras otro otros para pero poco por porque que quien se ser si sin sobre son su sus
        también tambien te tiene tienen todo todos tu tus un una uno unos y ya yo""".split()),
}


def normalise(text: str) -> str:
    """``text`` normalised for comparison (see the module's docstring)."""
    text = unicodedata.normalize("NFKC", text).casefold().replace("’", "'").replace("‘", "'")
    text = _STRAY_APOSTROPHE.sub(" ", _NOT_WORD.sub(" ", text))
    return " ".join(text.split())


def error_rates(reference: str, hypothesis: str) -> dict[str, float]:
    """``{"wer", "cer"}`` of ``hypothesis`` against ``reference``, both normalised."""
    import jiwer

    ref, hyp = normalise(reference), normalise(hypothesis)
    if not ref:
        raise ValueError("the reference text is empty")
    if not hyp:
        return {"wer": 1.0, "cer": 1.0}
    return {"wer": round(float(jiwer.wer(ref, hyp)), 4), "cer": round(float(jiwer.cer(ref, hyp)), 4)}


def content_words(text: str, language: str) -> set[str]:
    stop = STOP_WORDS.get(language.split("-")[0], STOP_WORDS["en"])
    return {w for w in normalise(text).split() if len(w) >= 3 and w not in stop
            and not w.isdigit()}


def content_kept(reference: str, document: str, language: str) -> float:
    """The share of the reference's distinct content words that ``document`` holds."""
    wanted = content_words(reference, language)
    if not wanted:
        return 1.0
    return round(len(wanted & set(normalise(document).split())) / len(wanted), 4)


