"""The sources file (``include/channels.yaml``, or ``$SCRIBEFLOW_CHANNELS``): the channels,
playlists and feeds Scribeflow follows, one DAG each.

The file is validated entry by entry: a bad entry becomes one line naming the entry and the
field (:attr:`SourcesFile.errors`) and every other source still loads. Example::

    defaults:                 # optional: applied to every source (a source's own value wins)
      max_per_run: 5
      request_sleep: [1, 4]   # seconds between listing requests, drawn uniformly
    sources:
      - name: nasa            # a slug: the DAG is channel__nasa
        url: https://www.youtube.com/@NASA
        schedule: "@daily"    # a preset or a cron expression
        start_date: 2026-11-01
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from scribeflow.core.config import PROJECT_ROOT, STORES, DeploymentSettings

PRESETS = ("@hourly", "@daily", "@weekly", "@monthly", "@quarterly", "@yearly", "@annually")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def default_sources_path() -> Path:
    return Path(DeploymentSettings.from_env().channels
                or PROJECT_ROOT / "include" / "channels.yaml")


def parse_seconds(value: Any) -> float:
    """``90``, ``"90s"``, ``"15m"``, ``"6h"``, ``"1d"`` as seconds."""
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError(f"not a duration: {value!r} (use seconds or 90s, 15m, 6h, 1d)")
        seconds = float(match[1]) * _UNITS[match[2]]
    if seconds < 0:
        raise ValueError(f"a duration cannot be negative: {value!r}")
    return seconds


class Source(BaseModel):
    """One followed channel, playlist or feed, and how its uploads are processed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: A slug (lowercase letters, digits, ``-`` and ``_``): the DAG is ``channel__<name>``.
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")
    #: A YouTube channel, ``@handle`` or playlist URL, an RSS/Atom feed, any playlist yt-dlp lists.
    url: str
    #: A preset (``@daily``, ``@hourly``, …) or a five-field cron expression (UTC).
    schedule: str
    #: The first data interval starts here; uploads before it are a backfill's work.
    start_date: dt.date
    end_date: dt.date | None = None
    #: Run every missed interval after downtime (True), or only the latest one.
    catchup: bool = True
    #: ``feed`` (RSS/Atom), ``playlist`` (anything yt-dlp lists) or ``auto`` (sniff the URL).
    kind: Literal["auto", "feed", "playlist"] = "auto"
    #: New videos triggered per run at most, newest first; the rest wait for the next run.
    max_per_run: int = Field(default=10, ge=1, le=1000)
    #: Videos triggered per UTC day at most (None: no cap).
    daily_cap: int | None = Field(default=None, ge=1)
    include_shorts: bool = False
    #: Seconds (or ``90s``, ``15m``, ``2h``): uploads of known duration outside are skipped.
    min_duration: float | None = None
    max_duration: float | None = None
    #: Regular expressions (case-insensitive): keep titles matching any include and no exclude.
    title_include: tuple[str, ...] = ()
    title_exclude: tuple[str, ...] = ()
    #: Settings of the triggered ``video_pipeline`` runs (None: that DAG's defaults).
    language: str | None = None
    whisper_model: str | None = None
    quiz: bool | None = None
    store: str | None = None
    #: Languages its videos' subtitles and documents are translated into (codes).
    translate_to: tuple[str, ...] | None = None
    #: Subtitle characters per line (0: 42, or 16 without spaces) and lines per cue.
    subtitle_chars: int | None = Field(default=None, ge=0, le=80)
    subtitle_lines: int | None = Field(default=None, ge=1, le=3)
    #: Find who spoke when, and how many people speak (0: find out) or at least / at most.
    diarize: bool | None = None
    num_speakers: int | None = Field(default=None, ge=0, le=20)
    min_speakers: int | None = Field(default=None, ge=1, le=20)
    max_speakers: int | None = Field(default=None, ge=1, le=20)
    #: An Airflow connection whose password (or extra ``cookies``) holds a Netscape cookies file.
    cookies_conn_id: str | None = None
    #: ``[min, max]`` seconds slept before each listing request and each download, drawn
    #: uniformly from the range.
    request_sleep: tuple[float, float] = (0.0, 0.0)
    download_sleep: tuple[float, float] = (0.0, 0.0)
    #: After the site blocks us (bot check, HTTP 429), trigger nothing for this long.
    cooldown: float = 6 * 3600.0
    tags: tuple[str, ...] = ()

    @property
    def dag_id(self) -> str:
        return f"channel__{self.name}"

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        value = value.strip()
        if not re.match(r"^https?://[^\s/]+", value, re.IGNORECASE):
            raise ValueError(f"not an http(s) URL: {value!r}")
        return value

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        from croniter import croniter

        value = value.strip()
        if value in PRESETS or (not value.startswith("@") and len(value.split()) == 5
                                and croniter.is_valid(value)):
            return value
        raise ValueError(f"{value!r} is not a five-field cron expression or one of "
                         f"{', '.join(PRESETS)}")

    @field_validator("min_duration", "max_duration", "cooldown", mode="before")
    @classmethod
    def _seconds(cls, value: Any) -> Any:
        return None if value is None else parse_seconds(value)

    @field_validator("title_include", "title_exclude", mode="before")
    @classmethod
    def _patterns(cls, value: Any) -> Any:
        patterns = (value,) if isinstance(value, str) else tuple(value or ())
        for pattern in patterns:
            try:
                re.compile(pattern)
            except (re.error, TypeError) as exc:
                raise ValueError(f"not a regular expression: {pattern!r} ({exc})") from None
        return patterns

    @field_validator("request_sleep", "download_sleep", mode="before")
    @classmethod
    def _range(cls, value: Any) -> Any:
        if isinstance(value, int | float | str) and not isinstance(value, bool):
            value = (value, value)
        low, high = (parse_seconds(v) for v in value)
        if low > high:
            raise ValueError(f"the range's minimum {low} is above its maximum {high}")
        return (low, high)

    @field_validator("translate_to", mode="before")
    @classmethod
    def _targets(cls, value: Any) -> Any:
        from scribeflow.core.errors import ConfigError
        from scribeflow.core.languages import language_codes

        if value is None:
            return None
        try:
            return language_codes(value, "translate_to")
        except ConfigError as exc:
            raise ValueError(str(exc).split(": use")[0]) from None

    @field_validator("language")
    @classmethod
    def _language(cls, value: str | None) -> str | None:
        from scribeflow.core.languages import LANGUAGES

        if value is not None and value not in ("auto", *LANGUAGES):
            raise ValueError(f"unknown language {value!r}: use auto or a code such as en, de, es")
        return value

    @field_validator("store")
    @classmethod
    def _store(cls, value: str | None) -> str | None:
        if value is not None and value not in STORES:
            raise ValueError(f"unknown store {value!r}; choose one of {', '.join(STORES)}")
        return value

    @model_validator(mode="after")
    def _bounds(self) -> Source:
        if (self.min_duration is not None and self.max_duration is not None
                and self.min_duration > self.max_duration):
            raise ValueError(f"min_duration {self.min_duration:g} s is above max_duration "
                             f"{self.max_duration:g} s")
        if self.end_date is not None and self.end_date < self.start_date:
            raise ValueError("end_date is before start_date")
        return self

    def run_conf(self) -> dict[str, Any]:
        """The ``video_pipeline`` params this source sets (the url is added per video)."""
        conf: dict[str, Any] = {"source": self.name}
        for key in ("language", "whisper_model", "quiz", "store", "cookies_conn_id",
                    "subtitle_chars", "subtitle_lines", "diarize", "num_speakers",
                    "min_speakers", "max_speakers"):
            if getattr(self, key) is not None:
                conf[key] = getattr(self, key)
        if self.translate_to is not None:
            conf["translate_to"] = list(self.translate_to)
        if self.download_sleep != (0.0, 0.0):
            conf["download_sleep_min"], conf["download_sleep_max"] = self.download_sleep
        return conf


@dataclass(frozen=True)
class SourcesFile:
    """What a sources file holds: the valid sources and one line per bad entry."""

    path: Path
    sources: tuple[Source, ...] = ()
    errors: tuple[str, ...] = field(default=())

    def get(self, name: str) -> Source:
        for source in self.sources:
            if source.name == name:
                return source
        from scribeflow.core.errors import BadInputError

        broken = [e for e in self.errors if f"'{name}'" in e]
        if broken:
            raise BadInputError(broken[0])
        known = ", ".join(s.name for s in self.sources) or "none"
        raise BadInputError(f"unknown source {name!r}; the sources in {self.path} are: {known}")


def load_sources(path: Path | None = None) -> SourcesFile:
    """Read and validate the sources file. A missing file holds no sources."""
    import yaml

    path = Path(path or default_sources_path())
    if not path.exists():
        return SourcesFile(path=path)
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        return SourcesFile(path=path, errors=(f"{path}: not valid YAML: "
                                              f"{' '.join(str(exc).split())}",))
    return parse_sources(document, path)


def parse_sources(document: Any, path: Path) -> SourcesFile:
    if not isinstance(document, Mapping):
        return SourcesFile(path=path, errors=(f"{path}: expected a mapping with 'sources'",))
    unknown = sorted(set(document) - {"defaults", "sources"})
    errors: list[str] = [f"{path}: unknown top-level key {k!r} (expected defaults, sources)"
                         for k in unknown]
    defaults = document.get("defaults") or {}
    entries = document.get("sources") or []
    if not isinstance(defaults, Mapping):
        return SourcesFile(path=path, errors=(f"{path}: defaults: expected a mapping",))
    if not isinstance(entries, list):
        return SourcesFile(path=path, errors=(f"{path}: sources: expected a list",))
    for key in sorted(set(defaults) & {"name", "url"}):
        errors.append(f"{path}: defaults: {key!r} cannot have a default")
    sources: list[Source] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(entries):
        label = f"{path}: sources[{index}]"
        if not isinstance(entry, Mapping):
            errors.append(f"{label}: expected a mapping, got {type(entry).__name__}")
            continue
        if entry.get("name"):
            label += f" '{entry['name']}'"
        try:
            source = Source.model_validate({**defaults, **entry})
        except ValidationError as exc:
            errors.extend(f"{label}: {_describe(error)}" for error in exc.errors())
            continue
        if source.name in seen:
            errors.append(f"{label}: name {source.name!r} is already used by "
                          f"sources[{seen[source.name]}]")
            continue
        seen[source.name] = index
        sources.append(source)
    return SourcesFile(path=path, sources=tuple(sources), errors=tuple(errors))


def _describe(error: Mapping[str, Any]) -> str:
    where = ".".join(str(part) for part in error.get("loc", ())) or "entry"
    message = str(error.get("msg", "invalid"))
    message = message.removeprefix("Value error, ")
    if error.get("type") == "string_pattern_mismatch" and where == "name":
        message = (f"{error.get('input')!r} is not a slug (lowercase letters, digits, - and _, "
                   "at most 63)")
    elif error.get("type") == "extra_forbidden":
        message = "unknown field"
    elif error.get("type") == "missing":
        message = "required field missing"
    return " ".join(f"{where}: {message}".split())
