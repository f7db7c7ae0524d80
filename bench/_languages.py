"""Speech in other languages for the model sweep: espeak-ng reading German and Spanish texts
(sentences that never repeat), and real recordings that PyPI wheels ship, with their texts."""

from __future__ import annotations

from pathlib import Path

from _common import WAV_16K, spoken

from support.media import wheel_files

GERMAN = (
    "Der Wasserkreislauf beginnt im Meer. Die Sonne erwärmt das Wasser, und es steigt als "
    "Dampf in den Himmel. Hoch in der Luft kühlt der Dampf ab und bildet Wolken. Wenn die "
    "Tropfen schwer werden, fallen sie als Regen oder Schnee zurück auf die Erde. Flüsse "
    "tragen das Wasser zurück ins Meer, und der Kreislauf beginnt von vorn. Im Winter "
    "friert der See im Dorf zu, und die Kinder laufen auf dem Eis. Der Bäcker öffnet seinen "
    "Laden jeden Morgen um sechs Uhr. Meine Großmutter erzählt gern Geschichten aus ihrer "
    "Jugend. Der Zug nach Berlin hatte heute zwanzig Minuten Verspätung. In der Bibliothek "
    "liegen alte Landkarten, die niemand mehr liest. Am Wochenende wandern wir durch den "
    "Wald bis zur alten Mühle. Der Arzt rät, jeden Tag genug Wasser zu trinken.")
SPANISH = (
    "El ciclo del agua comienza en el mar. El sol calienta el agua y sube al cielo como "
    "vapor. En lo alto, el vapor se enfría y forma nubes. Cuando las gotas pesan demasiado, "
    "caen a la tierra como lluvia o nieve. Los ríos llevan el agua de vuelta al mar, y el "
    "ciclo empieza otra vez. Mi hermano trabaja en una fábrica de muebles cerca del puerto. "
    "Los domingos vamos al mercado a comprar fruta fresca. La biblioteca del pueblo cierra "
    "a las ocho de la tarde. El tren de la mañana llegó con media hora de retraso. Mi abuela "
    "prepara una sopa de verduras cada invierno. Los niños juegan al fútbol en la plaza "
    "hasta que oscurece. El médico recomienda caminar treinta minutos al día.")

#: Real recordings (people reading) and what they say, from the f5-tts wheel (its
#: ``basic.toml`` gives the English reference's text; the Chinese one is its demo's line, in
#: the traditional characters whisper writes).
REAL = {
    "f5-tts==1.1.22": ("f5_tts/infer/examples/basic/basic_ref_en.wav",
                       "f5_tts/infer/examples/multi/main.flac",
                       "f5_tts/infer/examples/multi/town.flac",
                       "f5_tts/infer/examples/multi/country.flac",
                       "f5_tts/infer/examples/basic/basic_ref_zh.wav"),
}
REAL_TEXTS = {
    "basic_ref_en.wav": ("en", "Some call me nature, others call me mother nature."),
    "main.flac": ("en", "Six spoons of fresh snow peas, five thick slabs of blue cheese, and "
                        "maybe a snack for her brother Bob."),
    "town.flac": ("en", "The difference in the rainbow depends considerably upon the size of "
                        "the drops, and the width of the colored band increases as the size "
                        "of the drops increases."),
    "country.flac": ("en", "Six spoons of fresh snow peas, five thick slabs of blue cheese, "
                           "and maybe a snack for her brother Bob."),
    "basic_ref_zh.wav": ("zh", "對，這就是我，萬人敬仰的太乙真人。"),
}


def language_inputs(folder: Path, english: str) -> list[tuple[str, str, Path, str]]:
    """``(name, language, audio, reference text)`` of every input of the model sweep."""
    english_wav = folder / f"sweep-en-{len(english.split())}w.wav"  # one file per text
    inputs = [("espeak-ng English", "en", spoken(english_wav, english, *WAV_16K), english),
              ("espeak-ng German", "de",
               spoken(folder / "sweep-de.wav", GERMAN, *WAV_16K, voice="de"), GERMAN),
              ("espeak-ng Spanish", "es",
               spoken(folder / "sweep-es.wav", SPANISH, *WAV_16K, voice="es"), SPANISH)]
    for path in wheel_files(folder / "real", REAL):
        language, text = REAL_TEXTS[path.name]
        inputs.append((f"real {path.name}", language, path, text))
    return inputs
