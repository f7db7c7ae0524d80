"""The ``translate`` stage: the video's subtitles and document in each of ``translate_to``.

English from speech in another language comes from whisper's own translation, which the
transcribe stage made from the audio (``transcript.en.json``); every other subtitle is the
LLM's translation of a source cue, shown on that cue's times. Each document is the LLM's
translation of the final document's chunks (without an LLM, the English one is whisper's
text of each chunk's time). Per language: ``transcript.<lang>.srt/.vtt``,
``document_chunks.<lang>.json`` (what the rows of that language are embedded from),
``document.<lang>.md`` and ``.html``.
"""

from __future__ import annotations

import logging
from pathlib import Path

from scribeflow.core.cache import llm_cache
from scribeflow.core.config import PipelineSettings
from scribeflow.core.endpoints import LLMSettings
from scribeflow.core.errors import ConfigError
from scribeflow.core.files import VideoPaths, read_json, write_json_atomic, write_text_atomic
from scribeflow.core.languages import language_name
from scribeflow.core.records import Transcript
from scribeflow.pipeline.results import LLMUsage, Translated
from scribeflow.pipeline.speakers import read_transcript
from scribeflow.pipeline.transcription import subtitle_style
from scribeflow.speech import subtitles

log = logging.getLogger(__name__)


def translate_video(video_dir: str, settings: PipelineSettings, llm: LLMSettings) -> Translated:
    """Translate the video into each language of ``settings.translate_to`` but its own."""
    video = VideoPaths(Path(video_dir))
    if not settings.translate_to:
        return Translated(video_dir=video_dir)
    transcript = read_transcript(video)
    source = transcript.language
    chunks = read_json(video.document_chunks)
    title = read_json(video.metadata)["title"]
    done, methods, skipped, outputs = [], {}, [], {}
    usage = LLMUsage()
    for target in settings.translate_to:
        if target == source:
            skipped.append(f"{target}: the speech is in {language_name(source)} already")
            continue
        heard = _whisper_translation(video, target)
        if not llm.configured and heard is None:
            raise ConfigError(
                f"translate_to {target}: translating into {language_name(target)} needs an LLM "
                "(the openai_default connection, or OPENAI_BASE_URL and OPENAI_MODEL)"
                + (" or a multilingual whisper model for English" if target == "en" else ""))
        source_cues = subtitles.cues(transcript.segments, subtitle_style(settings, source))
        if llm.configured:
            from scribeflow.writing.llm import Unusable
            from scribeflow.writing.translation import translate

            try:
                outcome = translate([] if heard else [" ".join(c.lines) for c in source_cues],
                                    [c["text"] for c in chunks], source, target, llm,
                                    llm_cache(settings), settings.prompts)
            except Unusable as exc:  # every try of both models: running again would not help
                raise ConfigError(f"{exc}: the LLM cannot translate into {language_name(target)}"
                                  f"; choose another model or leave {target} out of "
                                  "translate_to") from None
            usage += LLMUsage.of(outcome)
            passages = list(outcome.value.passages)
            if heard is None:
                style = subtitle_style(settings, target)
                cues = subtitles.translated_cues(source_cues, outcome.value.lines, style)
                _write_cues(video, target, cues)
        else:  # English without an LLM: whisper's words over each chunk's time
            passages = [_spoken_during(heard, c["start"], c["end"]) for c in chunks]
        methods[target] = ("whisper subtitles, llm document" if heard and llm.configured
                           else "whisper" if heard else "llm")
        _write_document(video, target, title, chunks, passages)
        outputs |= {f"subtitles_{target}": str(video.srt_in(target)),
                    f"document_{target}": str(video.document_in(target)),
                    f"document_html_{target}": str(video.document_html_in(target))}
        done.append(target)
        log.info("translated %s into %s (%s)", video.root.name, language_name(target),
                 methods[target])
    return Translated(video_dir=video_dir, languages=tuple(done), methods=methods,
                      skipped=tuple(skipped), outputs=outputs, usage=usage)


def _whisper_translation(video: VideoPaths, target: str) -> Transcript | None:
    """Whisper's translation into ``target``, when the transcribe stage made it from the
    transcript there is now (one left from other audio or settings is not used)."""
    from scribeflow.core.cache import digest

    path = video.transcript_in(target)
    if not path.exists():
        return None
    made = read_json(path)
    key = read_json(video.transcript).get("cache_key")
    return Transcript.from_dict(made) if key and made.get("cache_key") == digest(
        key, "translate") else None


def _spoken_during(transcript: Transcript, start: float, end: float) -> str:
    return " ".join(s.text.strip() for s in transcript.segments
                    if start <= (s.start + s.end) / 2 < end and s.text.strip())


def _write_cues(video: VideoPaths, target: str, cues: list[subtitles.Cue]) -> None:
    write_text_atomic(video.srt_in(target), subtitles.to_srt(cues))
    write_text_atomic(video.vtt_in(target), subtitles.to_vtt(cues))


def _write_document(video: VideoPaths, target: str, title: str, chunks: list[dict],
                    passages: list[str]) -> None:
    """``document_chunks.<lang>.json``, then ``document.<lang>.md`` and ``.html`` from it."""
    from scribeflow.writing import render
    from scribeflow.writing.document import assemble_document

    write_json_atomic(video.document_chunks_in(target), [  # what its rows are made from
        {"index": c["index"], "start": c["start"], "end": c["end"], "text": text}
        for c, text in zip(chunks, passages, strict=True) if text.strip()])
    markdown = assemble_document(title, [(c["index"], text)
                                         for c, text in zip(chunks, passages, strict=True)])
    write_text_atomic(video.document_in(target), markdown)
    write_text_atomic(video.document_html_in(target),
                      render.document_page(title, markdown))

