"""A scripted translator for the scripted LLM: German from a glossary of the test media's
words (real German words, so an offline language classifier hears German), anything else
echoed back in English, as a model that ignored the target language would."""

from __future__ import annotations

import re

GLOSSARY = dict(line.split(":") for line in """
welcome:willkommen to:zu this:dieser short:kurzen lesson:Lektion about:über the:die
water:Wasser cycle:Kreislauf sun:Sonne heats:erwärmt ocean:Ozean and:und rises:steigt
into:in sky:Himmel as:als vapor:Dampf vapour:Dampf next:danach we:wir talk:sprechen
volcanoes:Vulkane hot:heißes melted:geschmolzenes rock:Gestein called:genannt magma:Magma
pushes:drückt up:hoch through:durch crust:Kruste erupts:bricht from:aus mountain:Berg now:jetzt
let:lass us:uns look:schauen at:auf baking:Backen bread:Brot you:du mix:mischst flour:Mehl
salt:Salz yeast:Hefe then:dann knead:knetest dough:Teig it:es rise:gehen our:unser
fourth:viertes topic:Thema is:ist planet:Planet jupiter:Jupiter largest:größte in:in
solar:Sonnen system:System has:hat a:einen giant:riesigen red:roten storm:Sturm
finally:schließlich remember:denk practice:üben piano:Klavier every:jeden day:Tag play:spiele
scales:Tonleitern slowly:langsam with:mit both:beiden hands:Händen before:bevor learn:lernst
new:neue songs:Lieder of:von its:sein for:für that:dass there:dort what:was are:sind
be:sein on:auf let's:lass
""".split())
_WORD = re.compile(r"[A-Za-z']+")


def german(text: str) -> str:
    """``text`` word for word in German, punctuation and capitals kept."""
    def swap(match: re.Match[str]) -> str:
        word = match[0]
        found = GLOSSARY.get(word.lower(), word)
        return found[0].upper() + found[1:] if word[0].isupper() else found

    return _WORD.sub(swap, text)


def translate_answer(number: int, target: str, body: str, lines: bool,
                     short: bool = False) -> str:
    """The answer to a translation prompt: numbered lines (opening with chatter; ``short``:
    the last line left out, to be asked again) or a passage."""
    turn = german if target == "German" else (lambda text: text)
    if not lines:
        return ("Here is the translation:\n\n" if number % 2 else "") + turn(body)
    numbered = [line for line in body.splitlines() if line.strip()]
    out = [turn(line) for line in numbered]
    if short and len(out) > 1:
        out = out[:-1]
    return "Sure! Here are the translated lines:\n" + "\n".join(out)
