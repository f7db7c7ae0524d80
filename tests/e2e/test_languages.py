"""Every language offline, through ``scribeflow run`` with the product's defaults (no model
hub): German and Spanish read by the bundled base, subtitles that keep the broadcast rules,
translations by the LLM (a real local server) and by whisper, each language searchable; a
translation in the wrong language, or a language the model cannot hear, is refused."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import jiwer
import pytest
from e2e.conftest import SCRIBEFLOW, clean_env, result_line, run_note

from scribeflow.core.files import DataPaths, read_json
from scribeflow.index.store.parquet import ParquetStore
from scribeflow.speech.subtitles import Cue, SubtitleStyle, problems
from scribeflow.writing.translation import wrong_language
from support.disk import digests
from support.media import speech_audio
from support.openai_server import EditorScript, ScriptedOpenAI

pytestmark = pytest.mark.e2e
WARM_HOSTS = True
LANGUAGE = "auto"  # the product's default: detect the language

FOREIGN = {
    "de": "Willkommen zu dieser kurzen Lektion über den Wasserkreislauf. Die Sonne erwärmt den "
          "Ozean und das Wasser steigt als Dampf in den Himmel. Hoch in der Luft kühlt der "
          "Dampf ab und bildet Wolken.",
    "es": "Bienvenidos a esta breve lección sobre el ciclo del agua. El sol calienta el océano "
          "y el agua sube al cielo como vapor. En lo alto, el vapor se enfría y forma nubes.",
}
TIME = re.compile(r"^(\d\d):(\d\d):(\d\d)[,.](\d{3}) --> (\d\d):(\d\d):(\d\d)[,.](\d{3})$")


def read_cues(path: Path) -> list[Cue]:
    """The cues of an SRT or VTT file, read back from the text."""
    cues, lines, span = [], [], None
    for line in path.read_text().splitlines() + [""]:
        if match := TIME.match(line):
            h1, m1, s1, f1, h2, m2, s2, f2 = (int(x) for x in match.groups())
            span = (h1 * 3600 + m1 * 60 + s1 + f1 / 1000, h2 * 3600 + m2 * 60 + s2 + f2 / 1000)
        elif span and line.strip():
            lines.append(line)
        elif span:
            cues.append(Cue(span[0], span[1], tuple(lines)))
            span, lines = None, []
    return cues


def words(text: str) -> str:
    return " ".join(re.sub(r"[^\w' ]+", " ", text.lower()).split())


def llm_env(server) -> dict[str, str]:
    return {"AIRFLOW_CONN_OPENAI_DEFAULT": json.dumps(
        {"conn_type": "openai", "host": server.base_url, "password": "k",
         "extra": {"model": "primary-model", "fallback_model": "fallback-model"}})}


@pytest.mark.parametrize("language", sorted(FOREIGN))
def test_other_languages_are_read_with_no_flags(language, run_pipeline, tmp_path, airflow_home):
    clip = speech_audio(tmp_path / f"lesson-{language}.mp3", FOREIGN[language], voice=language)
    outcome = run_pipeline(str(clip), tmp_path / "data")
    assert outcome.code == 0, outcome.output
    assert outcome.line("status") == "success"
    summary = read_json(Path(outcome.line("summary")))
    assert summary["language"] == language and summary["language_probability"] > 0.5
    assert outcome.line("language").startswith(f"{language} (detected, probability 0.")
    assert summary["transcriber"] == "local (base, word timestamps)"
    video = DataPaths(tmp_path / "data").video(summary["video_id"])
    transcript = read_json(video.transcript)
    heard = " ".join(s["text"] for s in transcript["segments"])
    wer = jiwer.wer(words(FOREIGN[language]), words(heard))
    assert wer < 0.5, wer  # espeak-ng's speech through base: 0.32 (de), 0.23 (es) in P16
    cues = read_cues(video.srt)
    assert cues and problems(cues, SubtitleStyle.for_language(language)) == []
    assert result_line(run_note(airflow_home, summary["run_id"])).startswith("Result: success")


@pytest.fixture(scope="module")
def translated(media, run_pipeline, tmp_path_factory):
    """talk.mp4 (English) translated into German by the scripted LLM."""
    data = DataPaths(tmp_path_factory.mktemp("translated"))
    server = ScriptedOpenAI(EditorScript(refuse_word=None)).start()
    outcome = run_pipeline(media.url("talk.mp4"), data.root, "--translate-to", "de",
                           env=llm_env(server))
    yield data, outcome, server
    server.stop()


def test_a_run_translates_subtitles_and_document_and_both_are_searchable(translated):
    data, outcome, server = translated
    assert outcome.code == 0, outcome.output
    summary = read_json(Path(outcome.line("summary")))
    assert summary["status"] == "success" and summary["translations"] == {"de": "llm"}
    video = data.video(summary["video_id"])
    source, german = read_cues(video.srt), read_cues(video.srt_in("de"))
    assert read_cues(video.vtt_in("de")) == german
    assert problems(source, SubtitleStyle()) == []
    # every German cue is shown while its English cue is: timing kept from the source
    assert german and all(any(s.start <= g.start and g.end <= s.end for s in source)
                          for g in german)
    assert wrong_language(" ".join(" ".join(c.lines) for c in german), "de") is None
    document = video.document_in("de").read_text()
    assert document.startswith("# talk\n") and wrong_language(document, "de") is None
    assert "<p>" in video.document_html_in("de").read_text()
    rows = ParquetStore(data.parquet_store).video_rows(summary["video_id"])
    chunks = len(read_json(video.document_chunks))
    assert {r.language for r in rows} == {"en", "de"}
    assert len({r.chunk_index for r in rows if r.language == "de"}) == chunks
    assert len({r.id for r in rows}) == len(rows)
    env = clean_env(SCRIBEFLOW_DATA=str(data.root))

    def search(query, language):
        proc = subprocess.run([SCRIBEFLOW, "search", query, "--language", language, "--json"],
                              env=env, capture_output=True, text=True, check=True)
        return json.loads(proc.stdout)

    hits = search("Backen Brot Mehl Hefe Teig", "de")
    assert hits and {h["language"] for h in hits} == {"de"} and "Brot" in hits[0]["text"]
    assert {h["language"] for h in search("baking bread", "en")} == {"en"}


def test_a_translation_in_the_wrong_language_fails_the_run_and_stores_nothing(
        translated, media, run_pipeline, airflow_home):
    """The scripted model answers French requests in English: the run fails at translate with
    the cause, the store and the German translation stay as they were."""
    data, _, server = translated
    before = digests(data.store_dir)
    asked = len(server.requests)
    outcome = run_pipeline(media.url("talk.mp4"), data.root, "--translate-to", "fr",
                           env=llm_env(server))
    assert outcome.code == 1, outcome.output
    cause = ("no usable answer after 4 tries; last: fallback-model: it is in English (en), "
             "not French: the LLM cannot translate into French; choose another model or leave "
             "fr out of translate_to")
    assert outcome.line("error") == f"{cause} (step translate)"
    # the subtitle lines and the passage, 4 tries each, once: not retried by Airflow
    assert len(server.requests) - asked == 8
    summary = read_json(Path(outcome.line("summary")))
    assert result_line(run_note(airflow_home, summary["run_id"])) == \
        f"Result: failed at translate: {cause}"
    assert digests(data.store_dir) == before
    video = data.video(summary["video_id"])
    assert not video.document_in("fr").exists() and video.document_in("de").exists()


def test_whisper_translates_german_into_english_without_an_llm(run_pipeline, tmp_path):
    clip = speech_audio(tmp_path / "lesson-de.mp3", FOREIGN["de"], voice="de")
    outcome = run_pipeline(str(clip), tmp_path / "data", "--translate-to", "en")
    assert outcome.code == 0, outcome.output
    summary = read_json(Path(outcome.line("summary")))
    assert summary["translations"] == {"en": "whisper"}
    video = DataPaths(tmp_path / "data").video(summary["video_id"])
    english = read_json(video.transcript_in("en"))
    assert english["task"] == "translate" and english["model"] == "base"
    cues = read_cues(video.srt_in("en"))
    assert cues and problems(cues, SubtitleStyle()) == []
    assert wrong_language(" ".join(" ".join(c.lines) for c in cues), "en") is None
    assert video.document_in("en").read_text().startswith("# lesson-de\n")
    rows = ParquetStore(DataPaths(tmp_path / "data").parquet_store).video_rows(
        summary["video_id"])
    assert {r.language for r in rows} == {"de", "en"}


def test_a_translation_without_an_llm_is_one_line(run_pipeline, media, tmp_path):
    outcome = run_pipeline(media.url("talk.mp4"), tmp_path / "data", "--translate-to", "es")
    assert outcome.code == 1
    assert outcome.line("error") == (
        "translate_to es: translating into Spanish needs an LLM (the openai_default "
        "connection, or OPENAI_BASE_URL and OPENAI_MODEL) (step translate)")


@pytest.mark.parametrize(("args", "cause"), [
    (("--language", "de", "--whisper-model", "tiny.en"),
     "language de needs a multilingual whisper model: tiny.en hears English only; set "
     "whisper_model to auto or base (bundled, 99 languages)"),
    (("--translate-to", "de,xx"),
     "error: unknown language 'xx' in translate_to: use whisper's codes (af am"),
])
def test_what_cannot_work_is_refused_before_the_run(args, cause, media, run_pipeline, tmp_path):
    outcome = run_pipeline(media.url("talk.mp4"), tmp_path / "data", *args)
    assert outcome.code == 2 and cause in outcome.output, outcome.output
    assert not (tmp_path / "data" / "videos").exists()
