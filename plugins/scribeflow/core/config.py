"""Typed, documented settings with defaults, overridable by environment and run params.

Precedence, lowest to highest: the dataclass default, ``SCRIBEFLOW_<FIELD>`` in the
environment, then the run's params (the Airflow trigger form or ``scribeflow run`` options).
Secrets never live here: the LLM key comes from an Airflow connection or ``OPENAI_API_KEY``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from scribeflow.core.errors import ConfigError
from scribeflow.core.languages import LANGUAGES, language_codes
from scribeflow.core.typed import coerce

PROJECT_ROOT = Path(__file__).resolve().parents[3]
STORES = ("parquet", "pgvector")
TRANSCRIBERS = ("local", "endpoint")


def is_url(location: str | os.PathLike[str] | None) -> bool:
    """Whether ``location`` names object storage (``s3://…``) rather than a local folder."""
    if location is None or isinstance(location, Path):
        return False
    scheme, sep, _ = str(location).partition("://")
    return bool(sep) and scheme.isalnum() and scheme.lower() != "file"


def default_data_dir() -> Path:
    """The local data folder; with ``SCRIBEFLOW_DATA`` on object storage, this host's
    working folder (``SCRIBEFLOW_WORKDIR``), where tasks keep their scratch copies."""
    data = os.environ.get("SCRIBEFLOW_DATA")
    if is_url(data):
        return default_workdir()
    return Path(data or PROJECT_ROOT / "data").resolve()


def default_workdir() -> Path:
    import tempfile

    return Path(os.environ.get("SCRIBEFLOW_WORKDIR")
                or Path(tempfile.gettempdir()) / "scribeflow-work").resolve()


def default_data_url() -> str | None:
    data = os.environ.get("SCRIBEFLOW_DATA")
    return data.rstrip("/") if is_url(data) else None


def default_prompts_dir() -> Path:
    return Path(os.environ.get("SCRIBEFLOW_PROMPTS") or PROJECT_ROOT / "include" / "prompts")


#: ``video_pipeline``'s form params that are settings. Their defaults are the deployment's
#: settings (:func:`run_param_defaults`, read when the DAG file is parsed) and a run's params
#: are all set, so a run uses what it was triggered with, else what the deployment sets.
RUN_PARAMS = ("language", "transcriber", "whisper_model", "chunk_words", "summary", "quiz",
              "quiz_per_chunk", "store", "translate_to", "subtitle_chars", "subtitle_lines",
              "diarize", "num_speakers", "min_speakers", "max_speakers")


#: The bounds of the numeric run params, which the form, the settings and so the CLI share.
RUN_PARAM_BOUNDS = {"chunk_words": (20, 2000), "quiz_per_chunk": (1, 10),
                    "subtitle_chars": (0, 80), "subtitle_lines": (1, 3),
                    "num_speakers": (0, 20), "min_speakers": (1, 20), "max_speakers": (1, 20)}


def run_param_defaults() -> dict[str, Any]:
    """The defaults of ``video_pipeline``'s :data:`RUN_PARAMS`: the dataclass defaults, then
    ``SCRIBEFLOW_*`` (:meth:`PipelineSettings.from_env`), as every other reader sees them."""
    settings = PipelineSettings.from_env()
    return {name: getattr(settings, name) for name in RUN_PARAMS}


@dataclass(frozen=True)
class PipelineSettings:
    """Tunables of one ``video_pipeline`` run."""

    #: The local data folder, or this host's working folder when ``data_url`` is set.
    data_dir: Path = field(default_factory=default_data_dir)
    #: The data folder on object storage (``SCRIBEFLOW_DATA=s3://bucket/prefix``), or None.
    data_url: str | None = field(default_factory=default_data_url)
    #: The prompt templates' folder (``SCRIBEFLOW_PROMPTS``; default ``include/prompts``).
    prompts: Path = field(default_factory=default_prompts_dir)
    #: Spoken language code, or ``auto`` to detect it.
    language: str = "auto"
    #: ``local`` (faster-whisper in the worker) or ``endpoint`` (an OpenAI-compatible
    #: transcription endpoint: the ``openai_transcription`` connection).
    transcriber: str = "local"
    #: ``auto`` (GPU: large-v3; CPU: the bundled tiny.en for English, the bundled
    #: multilingual base otherwise), a model name (``tiny.en`` and ``base`` are bundled) or a
    #: local path.
    whisper_model: str = "auto"
    #: ``auto``, ``cpu`` or ``cuda``.
    whisper_device: str = "auto"
    beam_size: int = 5
    #: ``BatchedInferencePipeline`` (chunks it decodes badly are decoded again sequentially),
    #: or faster-whisper's sequential decoding.
    whisper_batched: bool = True
    #: Batch size of ``BatchedInferencePipeline``.
    whisper_batch_size: int = 16
    #: CPU threads for whisper (0: one per core this process may use).
    whisper_threads: int = 0
    vad_filter: bool = True
    #: Target words per chunk; chunks end at segment boundaries.
    chunk_words: int = 150
    #: Mapped LLM tasks: at most this many groups of chunks per video.
    max_llm_groups: int = 4
    #: Mapped LLM tasks: at least this many chunks per group (task start-up is not free).
    min_chunks_per_group: int = 8
    #: ``auto`` (the bundled all-MiniLM-L6-v2), a sentence-transformers name or a local path.
    embed_model: str = "auto"
    embed_batch_size: int = 64
    #: The model host's socket on this host (``scribeflow models serve``): transcription with
    #: the local transcriber and embedding go to it, whose models stay loaded. Empty: each
    #: task loads the models it needs.
    model_host: str = ""
    store: str = "parquet"
    #: Connections a process keeps to the pgvector database (searches in flight at once).
    pg_pool_size: int = 8
    quiz: bool = False
    #: Quiz questions per document chunk (one LLM call each).
    quiz_per_chunk: int = 2
    #: Chunks per chapters request.
    chapter_chunks: int = 6
    #: Characters of transcript and document the quality score compares.
    quality_chars: int = 2000
    #: An abstract and key moments per video (``summary.json``, the document's top, the
    #: search index and the digests), when an LLM is configured.
    summary: bool = True
    #: Characters of transcript the summary is written from (about 7,000 tokens): a longer
    #: video's summary covers its start, and says so.
    summary_chars: int = 28000
    #: Tokens of retrieved passages an answer (``scribeflow ask``) is written from.
    ask_tokens: int = 3000
    #: When a chunk's LLM stage gets no usable answer after its retries: fail the run (False),
    #: or keep that stage's input and finish visibly ``degraded`` (True).
    allow_degraded: bool = False
    #: Longer inputs are refused before they are decoded (seconds; 6 hours by default).
    max_duration: float = 6 * 3600.0
    #: Languages the subtitles and the document are translated into (codes): into English by
    #: whisper's own translation where the local model is multilingual, else by the LLM.
    translate_to: tuple[str, ...] = ()
    #: Subtitle line length in characters (0: 42, or 16 in languages written without spaces).
    subtitle_chars: int = 0
    #: Subtitle lines per cue.
    subtitle_lines: int = 2
    #: Find who spoke when (``speakers.json``), and how many people speak when known (0: find
    #: out, between ``min_speakers`` and ``max_speakers``).
    diarize: bool = True
    num_speakers: int = 0
    min_speakers: int = 1
    max_speakers: int = 20

    def __post_init__(self) -> None:
        object.__setattr__(self, "data_dir", Path(self.data_dir).resolve())
        object.__setattr__(self, "prompts", Path(self.prompts))
        if self.store not in STORES:
            raise ConfigError(f"unknown store {self.store!r}; choose one of {', '.join(STORES)}")
        if self.language not in ("auto", *LANGUAGES):
            raise ConfigError(f"unknown language {self.language!r}: use auto or one of "
                              f"{' '.join(LANGUAGES)}")
        object.__setattr__(self, "translate_to", language_codes(self.translate_to, "translate_to"))
        if (self.whisper_model.rstrip("/").endswith(".en")
                and self.language not in ("auto", "en")):
            raise ConfigError(f"language {self.language} needs a multilingual whisper model: "
                              f"{self.whisper_model} hears English only; set whisper_model to "
                              "auto or base (bundled, 99 languages)")
        if self.transcriber not in TRANSCRIBERS:
            raise ConfigError(f"unknown transcriber {self.transcriber!r}; choose one of "
                              f"{', '.join(TRANSCRIBERS)}")
        if self.whisper_device not in ("auto", "cpu", "cuda"):
            raise ConfigError(f"whisper_device must be auto, cpu or cuda, not {self.whisper_device!r}")
        if self.max_duration <= 0:
            raise ConfigError(f"max_duration must be above 0 seconds, not {self.max_duration}")
        for name in ("pg_pool_size", "max_llm_groups", "min_chunks_per_group", "beam_size",
                     "chapter_chunks", "quality_chars", "summary_chars", "ask_tokens"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, not {getattr(self, name)}")
        for name, (low, high) in RUN_PARAM_BOUNDS.items():
            if not low <= getattr(self, name) <= high:
                raise ConfigError(f"{name} must be from {low} to {high}, not "
                                  f"{getattr(self, name)}")
        if self.min_speakers > self.max_speakers:
            raise ConfigError(f"min_speakers {self.min_speakers} is more than max_speakers "
                              f"{self.max_speakers}")

    @classmethod
    def from_env(cls, overrides: Mapping[str, Any] | None = None) -> PipelineSettings:
        """Defaults, then ``SCRIBEFLOW_*`` variables, then ``overrides`` (None values ignored)."""
        by_name = {f.name: f for f in fields(cls)}
        values: dict[str, Any] = {}
        for name, f in by_name.items():
            if name in ("data_dir", "data_url"):  # both follow SCRIBEFLOW_DATA: the defaults
                continue
            env_name = f"SCRIBEFLOW_{name.upper()}"
            raw = os.environ.get(env_name)
            if raw not in (None, ""):
                values[name] = coerce(f, raw, env_name)
        for key, value in (overrides or {}).items():
            if key == "data_dir" and value is not None:  # a folder, or a URL (--data-dir s3://…)
                if is_url(str(value)):
                    values |= {"data_url": str(value).rstrip("/"), "data_dir": default_workdir()}
                    continue
                values["data_url"] = None
            if value is not None and key in by_name:
                values[key] = coerce(by_name[key], value)
        return cls(**values)

    def as_dict(self) -> dict[str, Any]:
        return {k: str(v) if isinstance(v, Path) else v for k, v in dataclasses.asdict(self).items()}


@dataclass(frozen=True)
class DeploymentSettings:
    """Where and how this deployment runs (not tunables of one run): each field is
    ``SCRIBEFLOW_<FIELD>`` in the environment, read here and nowhere else, typed (a price of
    ``abc`` is a :class:`ConfigError` naming the variable). Empty text means unset."""

    #: The bearer token ``scribeflow serve`` requires off 127.0.0.1.
    api_token: str = ""
    #: The run host's socket (``scribeflow runs serve``): ``scribeflow run`` forks runs there.
    run_host: str = ""
    #: Videos ``scribeflow ingest`` runs at once (while one waits on Airflow or the network,
    #: another transcribes).
    ingest_parallel: int = 2
    #: Models a model host keeps loaded at once (least recently used unloaded first): whisper,
    #: the speaker model and the embedding model.
    model_host_max_models: int = 3
    #: The evaluation's references and configurations (default ``include/evaluation/``), and
    #: where evaluations keep their work (default ``<data>/evaluation``).
    eval_references: str = ""
    eval_configs: str = ""
    eval_dir: str = ""
    #: The Airflow connection holding the object storage's keys (default ``scribeflow_data``).
    data_conn_id: str = ""
    #: The transcription endpoint's Airflow connection (default ``openai_transcription``).
    transcription_conn_id: str = ""
    #: The sources file (default ``include/channels.yaml``).
    channels: str = ""
    #: Where the bundled multilingual whisper model is joined from its packages (default
    #: ``~/.cache/scribeflow/models``).
    models: str = ""
    #: USD per million prompt / completion tokens, for the run summary's cost (unset: none).
    price_prompt_per_mtok: float | None = None
    price_completion_per_mtok: float | None = None
    #: ``maintenance_work_mem`` of pgvector's index builds (e.g. ``4GB``; unset: sized from
    #: the server's memory).
    pg_build_memory: str = ""
    #: The pgvector database when no ``scribeflow_pgvector`` connection names it.
    pgvector_dsn: str = ""
    #: Download pools by site: ``youtube.com=downloads_youtube,…`` (unset: one pool).
    download_pools: str = ""
    #: The Celery queue of transcription tasks, and the pools of LLM stages and downloads.
    transcribe_queue: str = "cuda"
    llm_pool: str = "llm"
    download_pool: str = "downloads"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> DeploymentSettings:
        """From ``env`` (default: this process's environment)."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for f in fields(cls):
            name = f"SCRIBEFLOW_{f.name.upper()}"
            raw = env.get(name)
            if raw is not None and raw.strip() != "":
                values[f.name] = coerce(f, raw, name)
        return cls(**values)
