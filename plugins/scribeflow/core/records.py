"""Typed records that cross module boundaries, and their one conversion to/from JSON rows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Word:
    start: float
    end: float
    word: str
    #: None when the transcriber does not give one (most transcription endpoints).
    probability: float | None = None
    #: Who said it ("Speaker 1", …), when speakers were found.
    speaker: str | None = None


@dataclass(frozen=True)
class Segment:
    id: int
    start: float
    end: float
    text: str
    words: tuple[Word, ...] = ()
    #: The decoder's confidence: mean log-probability of the tokens, the probability that the
    #: window held no speech, and how repetitive the text is (gzip ratio).
    avg_logprob: float | None = None
    no_speech_prob: float | None = None
    compression_ratio: float | None = None
    #: The decoder's first try failed its own checks (repetitive or unlikely text) and this
    #: is its fallback's text: sampled at a higher temperature, or a failed batch decoded
    #: again sequentially.
    fallback: bool = False
    #: Who said it, when speakers were found (a segment holds one speaker's words).
    speaker: str | None = None

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> Segment:
        words = tuple(Word(**w) for w in row.get("words", ()))
        return cls(id=row["id"], start=row["start"], end=row["end"], text=row["text"], words=words,
                   avg_logprob=row.get("avg_logprob"), no_speech_prob=row.get("no_speech_prob"),
                   compression_ratio=row.get("compression_ratio"),
                   fallback=row.get("fallback", False), speaker=row.get("speaker"))


def speaker_label(group: int) -> str:
    """How every output names a speaker: ``Speaker 1`` for the first group (0) found."""
    return f"Speaker {group + 1}"


@dataclass(frozen=True)
class SpeakerTurn:
    """One speaker talking from ``start`` to ``end`` (s), without another in between."""

    start: float
    end: float
    speaker: str


@dataclass(frozen=True)
class SpeakerStats:
    speaker: str
    #: Seconds of speech in this speaker's turns.
    talk_s: float
    turns: int
    #: When the speaker is first heard (s).
    first_s: float


@dataclass(frozen=True)
class Diarization:
    """Who spoke when (``speakers.json``): the turns in order and each speaker's figures."""

    turns: tuple[SpeakerTurn, ...]
    speakers: tuple[SpeakerStats, ...]
    #: The speaker-embedding model, and how many windows of speech it embedded.
    model: str
    windows: int
    processing_s: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> Diarization:
        return cls(turns=tuple(SpeakerTurn(**t) for t in row["turns"]),
                   speakers=tuple(SpeakerStats(**s) for s in row["speakers"]),
                   model=row["model"], windows=row["windows"], processing_s=row["processing_s"])


@dataclass(frozen=True)
class HeardLanguage:
    """The language whisper heard in a piece of the speech, checked apart from the rest."""

    #: Where the piece starts (s).
    start: float
    language: str
    probability: float


@dataclass(frozen=True)
class Transcript:
    video_id: str
    language: str
    #: None when the transcriber does not say (transcription endpoints).
    language_probability: float | None
    duration: float
    model: str
    device: str
    compute_type: str
    settings: dict[str, Any]
    segments: tuple[Segment, ...]
    processing_s: float
    #: What the times are: ``word`` (each word's), ``segment`` (the endpoint gave segment
    #: times only) or ``piece`` (it gave none: one segment per uploaded piece).
    timestamps: str = "word"
    #: ``local`` (faster-whisper in the worker) or ``endpoint``.
    backend: str = "local"
    #: ``transcribe``, or ``translate``: whisper's English translation of the speech.
    task: str = "transcribe"
    #: The language heard in pieces of the speech after its first 30 s, when it was detected
    #: (speech that changes language shows here).
    languages: tuple[HeardLanguage, ...] = ()

    @property
    def text(self) -> str:
        return " ".join(s.text.strip() for s in self.segments if s.text.strip())

    @property
    def real_time_factor(self) -> float:
        """Processing seconds per second of audio (lower is faster)."""
        return self.processing_s / self.duration if self.duration else 0.0

    @property
    def avg_logprob(self) -> float | None:
        """The segments' mean token log-probability, weighted by their length in time."""
        scored = [(s.avg_logprob, max(s.end - s.start, 0.01)) for s in self.segments
                  if s.avg_logprob is not None]
        if not scored:
            return None
        return sum(lp * w for lp, w in scored) / sum(w for _, w in scored)

    @property
    def confidence(self) -> float | None:
        """``exp(avg_logprob)``: 0 to 1, about 0.6 for clear English on tiny.en."""
        import math

        return None if self.avg_logprob is None else round(math.exp(self.avg_logprob), 3)

    def to_dict(self) -> dict[str, Any]:
        row = asdict(self)
        row["real_time_factor"] = round(self.real_time_factor, 4)
        row["avg_logprob"] = None if self.avg_logprob is None else round(self.avg_logprob, 4)
        row["confidence"] = self.confidence
        return row

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> Transcript:
        names = cls.__dataclass_fields__
        values = {k: v for k, v in row.items()
                  if k in names and k not in ("segments", "languages")}
        return cls(segments=tuple(Segment.from_dict(s) for s in row["segments"]),
                   languages=tuple(HeardLanguage(**h) for h in row.get("languages", ())),
                   **values)


@dataclass(frozen=True)
class Chunk:
    """A run of whole segments: the unit of LLM work, with its place in the video."""

    index: int
    start: float
    end: float
    text: str
    segment_ids: tuple[int, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> Chunk:
        return cls(index=row["index"], start=row["start"], end=row["end"], text=row["text"],
                   segment_ids=tuple(row.get("segment_ids", ())))


@dataclass(frozen=True)
class EmbeddedUnit:
    """One unit of a chunk's text as embedded (by a task or the model host): its text, its
    vector, and its moment windows' vectors, in ``scribeflow.index.moments.windows`` order."""

    text: str
    vector: Any
    windows: Any


@dataclass(frozen=True)
class Moment:
    """Where a search can land inside a stored unit (scribeflow.index.moments)."""

    #: The second its first word was spoken.
    start: float
    #: Where it begins in the unit's text, in characters.
    offset: int
    #: The signs of its window's embedding, packed (48 bytes for 384 dimensions).
    code: bytes


#: The chunk index of a video's summary in the store (its abstract and key moments, one
#: video-level entry that search finds like a passage).
SUMMARY_CHUNK = -1


@dataclass(frozen=True)
class ChunkRow:
    """One embedded unit as stored: text that fits the embedding model, and where it came from.
    A video's summary is stored as the chunk :data:`SUMMARY_CHUNK`."""

    id: str
    video_id: str
    chunk_index: int
    unit_index: int
    start: float
    end: float
    text: str
    title: str
    channel: str | None
    upload_date: str | None
    language: str | None
    url: str
    model: str
    #: Normalised embedding: a tuple of floats or a 1-d float32 numpy array.
    vector: Sequence[float]
    #: A digest of what the row was made from (its chunk's text and fields, and the model):
    #: an unchanged chunk is not embedded or written again. None in rows of older versions.
    content_hash: str | None = None
    #: The unit's moments, in spoken order; none in rows of older versions.
    moments: tuple[Moment, ...] = ()
    #: Who is heard in the unit (``Speaker 2``), in the order they speak; none where the
    #: video has one speaker (or was not diarized), and in rows of older versions.
    speakers: tuple[str, ...] = ()


@dataclass(frozen=True)
class SearchFilters:
    """Restrict a search; ``None`` means no restriction. Dates are ``YYYY-MM-DD``."""

    video_id: str | None = None
    channel: str | None = None
    date_from: str | None = None
    date_to: str | None = None
    language: str | None = None
    #: Only units where this speaker (``Speaker 2``: a video's own numbering) is heard.
    speaker: str | None = None


@dataclass(frozen=True)
class SearchHit:
    id: str
    video_id: str
    title: str
    text: str
    start: float
    end: float
    url: str
    #: The fused score of similarity and keywords (higher is better; scribeflow.index.ranking).
    score: float
    channel: str | None = None
    upload_date: str | None = None
    language: str | None = None
    #: Cosine similarity of the query and the unit, -1..1 (what a reader sees as relevance:
    #: the fused score only orders hits).
    similarity: float | None = None
    #: Nothing reached the similarity floor: the best of weak matches (scribeflow.index.ranking).
    weak: bool = False
    #: Where in ``text`` the moment the hit starts at begins (characters); ``start`` is when
    #: it was spoken, ``unit_start`` when the unit's first words were.
    moment_offset: int = 0
    unit_start: float | None = None
    #: Who is heard in the unit, in the order they speak (empty: one speaker, or unknown).
    speakers: tuple[str, ...] = ()
    #: The hit is the video's summary (its abstract and key moments), not a passage.
    summary: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
