"""What each stage returns: a small frozen record of paths, counts and flags.

A task returns its stage's record serialised (:meth:`StageResult.to_xcom`, what XCom
carries) and the next task reads it back with :meth:`StageResult.from_xcom`, so a renamed
field fails at once instead of turning into a silent 0. Transcripts, texts and vectors stay in
files under the video's folder.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Any, Self


@dataclass(frozen=True)
class StageResult:
    """Serialised for XCom as a plain dict; read back strictly (no missing or unknown key)."""

    def to_xcom(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_xcom(cls, data: dict[str, Any] | Self) -> Self:
        if isinstance(data, cls):
            return data
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise TypeError(f"{cls.__name__} has no field(s) {sorted(unknown)}")
        hints = typing.get_type_hints(cls)
        values = {}
        for name, value in data.items():
            kind = hints[name]
            if isinstance(kind, type) and issubclass(kind, StageResult):
                value = kind.from_xcom(value)
            elif typing.get_origin(kind) is tuple and isinstance(value, list):
                value = tuple(value)
            values[name] = value
        return cls(**values)


@dataclass(frozen=True)
class LLMUsage(StageResult):
    """The LLM work of a stage: requests sent, answers reused from the cache, seconds, tokens."""

    requests: int = 0
    reused: int = 0
    seconds: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @classmethod
    def of(cls, outcome: Any) -> LLMUsage:
        """The usage an LLM outcome (``scribeflow.writing.study.Outcome``) counted."""
        return cls(requests=outcome.requests, reused=outcome.reused, seconds=outcome.seconds,
                   prompt_tokens=outcome.prompt_tokens,
                   completion_tokens=outcome.completion_tokens)

    def __add__(self, other: LLMUsage) -> LLMUsage:
        return LLMUsage(*(a + b for a, b in zip(dataclasses.astuple(self),
                                                dataclasses.astuple(other), strict=True)))


@dataclass(frozen=True)
class Downloaded(StageResult):
    """``download``: the video's folder, with ``audio.*`` and ``metadata.json``."""

    video_id: str
    video_dir: str
    title: str
    duration: float


@dataclass(frozen=True)
class Transcribed(StageResult):
    """``transcribe``: ``transcript.json`` and its subtitles, and what the summary reports."""

    video_dir: str
    transcript: str
    language: str | None
    #: How sure whisper's language detection was (None: the run named the language, or the
    #: endpoint did not say).
    language_probability: float | None
    confidence: float | None
    segments: int
    real_time_factor: float
    peak_memory_mb: float | None
    model: str
    device: str
    backend: str
    timestamps: str
    reused: bool
    #: What the summary warns of: low confidence, an unsure or changing language.
    speech_warnings: tuple[str, ...] = ()

    @property
    def speech(self) -> bool:
        return self.segments > 0


@dataclass(frozen=True)
class SpeakersFound(StageResult):
    """``find_speakers``: ``speakers.json`` (None when the run did not look for speakers) and
    the subtitles and text written with them."""

    video_dir: str
    speakers: str | None
    #: Speakers found (None: not looked for).
    count: int | None
    turns: int
    processing_s: float
    reused: bool
    #: Why speakers were not looked for although the run asked (one line), if so.
    skipped: str | None = None


@dataclass(frozen=True)
class ChunkGroup(StageResult):
    """One mapped ``write_document`` task's share: chunk indices of ``chunks.json``."""

    video_dir: str
    group: int
    chunks: tuple[int, ...]
    language: str | None
    #: What the UI's grid shows for the mapped task: ``chunks 0–7, 00:00–04:10``.
    label: str


@dataclass(frozen=True)
class GroupWritten(StageResult):
    """``write_document`` of one group: ``llm/group-NNN.json``."""

    group: int
    path: str
    llm_used: bool
    usage: LLMUsage
    removed_pct: float
    warnings: tuple[str, ...] = ()
    degraded: tuple[str, ...] = ()


@dataclass(frozen=True)
class Assembled(StageResult):
    """``assemble_document``: ``document_chunks.json`` from every group, and their LLM work
    summed. ``degraded`` holds the transcript's causes and the groups'."""

    video_dir: str
    chunks: int
    llm_used: bool
    usage: LLMUsage
    #: The share of the answers' characters the preamble filter removed: 0 to 100.
    removed_pct: float
    warnings: tuple[str, ...] = ()
    degraded: tuple[str, ...] = ()


@dataclass(frozen=True)
class ChaptersWritten(StageResult):
    """``write_chapters``: how many, the answers dropped and why."""

    chapters: int
    usage: LLMUsage = field(default_factory=LLMUsage)
    dropped: tuple[str, ...] = ()


@dataclass(frozen=True)
class QuizWritten(StageResult):
    """``write_quiz``: ``on``, ``off`` (the run did not ask) or ``no LLM``."""

    quiz: str
    questions: int = 0
    usage: LLMUsage = field(default_factory=LLMUsage)
    dropped: tuple[str, ...] = ()


@dataclass(frozen=True)
class QualityScored(StageResult):
    """``score_quality``: the 0-100 score, or None with the reason in ``quality.json``."""

    quality: int | None
    usage: LLMUsage = field(default_factory=LLMUsage)
    dropped: tuple[str, ...] = ()


@dataclass(frozen=True)
class Summarized(StageResult):
    """``summarize``: the key moments found, or why there is no summary (``skipped``, or
    ``failed``: the run is then degraded)."""

    key_moments: int = 0
    skipped: str | None = None
    failed: str | None = None
    usage: LLMUsage = field(default_factory=LLMUsage)
    dropped: tuple[str, ...] = ()


@dataclass(frozen=True)
class Translated(StageResult):
    """``translate``: the languages the video's subtitles and document were translated into,
    and how each was made (``whisper`` subtitles and an ``llm`` document, ``llm`` both, or
    ``whisper`` both without an LLM); the languages left out, with why."""

    video_dir: str
    languages: tuple[str, ...] = ()
    methods: dict[str, str] = field(default_factory=dict)
    skipped: tuple[str, ...] = ()
    outputs: dict[str, str] = field(default_factory=dict)
    usage: LLMUsage = field(default_factory=LLMUsage)


@dataclass(frozen=True)
class Rendered(StageResult):
    """``render_outputs``: the pages and PDFs written, by name."""

    video_dir: str
    quality: int | None
    outputs: dict[str, str]


@dataclass(frozen=True)
class Stored(StageResult):
    """``embed_and_upsert``: the video's rows after, those replaced and those embedded now."""

    store: str
    embed_model: str
    rows: int
    replaced: int
    embedded: int
    total_rows: int
    rows_digest: str


@dataclass(frozen=True)
class Reindexed(StageResult):
    """``scribeflow reindex``: the videos read back from files, and the store's rows after."""

    videos: int
    total_rows: int
    store: str
