"""The reference set, the configurations to evaluate and the gate's margins and floors,
read strictly from their YAML files."""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scribeflow.core.config import PROJECT_ROOT, DeploymentSettings
from scribeflow.core.errors import BadInputError, ScribeflowError
from scribeflow.evaluation.metrics import normalise

if TYPE_CHECKING:
    pass


#: Settings a configuration may not change: where data goes, and what is not evaluated.
FIXED_SETTINGS = ("data_dir", "data_url", "store", "quiz", "prompts")


@dataclass(frozen=True)
class ReferenceItem:
    id: str
    #: A local path or a URL the download step takes.
    media: str
    #: What was said.
    transcript: str
    language: str = "en"
    #: What the document should keep, when given (else the transcript).
    document: str | None = None


@dataclass(frozen=True)
class Candidate:
    """A configuration to evaluate: settings over the defaults, prompt templates over the
    default ones, and an LLM model."""

    name: str
    settings: dict[str, Any] = field(default_factory=dict)
    #: A folder of templates that replace the default ones of the same name.
    prompts: str | None = None
    llm_model: str | None = None

    @functools.cached_property
    def key(self) -> str:
        """What the configuration is: its settings, its prompts' text and its LLM model
        (read once per instance)."""
        from scribeflow.core.cache import digest

        prompt_files = sorted(Path(self.prompts).glob("*.md")) if self.prompts else []
        return digest(self.name, json.dumps(self.settings, sort_keys=True), self.llm_model or "",
                      *(f"{p.name}:{p.read_text(encoding='utf-8')}" for p in prompt_files))[:12]

    @property
    def folder(self) -> str:
        return f"{re.sub(r'[^A-Za-z0-9_.-]+', '-', self.name)}-{self.key}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def default_references_path() -> Path:
    return Path(DeploymentSettings.from_env().eval_references
                or PROJECT_ROOT / "include" / "evaluation" / "references.yaml")


def default_configs_path() -> Path:
    return Path(DeploymentSettings.from_env().eval_configs
                or PROJECT_ROOT / "include" / "evaluation" / "configs.yaml")


def _yaml(path: Path, key: str, optional: tuple[str, ...] = ()) -> list[Any]:
    """The non-empty list ``key`` of a YAML file (:func:`_document`)."""
    return _document(path, key, optional)[key]


def _document(path: Path, key: str, optional: tuple[str, ...] = ()) -> dict[str, Any]:
    """A references or configurations file: a mapping with the non-empty list ``key`` and
    at most the ``optional`` keys besides; any other shape is one line naming the file."""
    import yaml

    if not path.is_file():
        raise BadInputError(f"{path}: file not found")
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise BadInputError(f"{path}: not valid YAML: {' '.join(str(exc).split())}") from None
    if not isinstance(document, dict) or not isinstance(document.get(key), list) \
            or not document[key]:
        raise BadInputError(f"{path}: expected a mapping with a non-empty list {key!r}")
    unknown = sorted(set(document) - {key, *optional})
    if unknown:
        expected = " or ".join((key, *optional))
        raise BadInputError(f"{path}: unknown top-level key {unknown[0]!r} (expected {expected})")
    return document


def _entry(path: Path, key: str, index: int, entry: Any, allowed: set[str],
           required: set[str]) -> tuple[str, dict[str, Any]]:
    label = f"{path}: {key}[{index}]"
    if not isinstance(entry, dict):
        raise BadInputError(f"{label}: expected a mapping, got {type(entry).__name__}")
    if entry.get("id") or entry.get("name"):
        label += f" {entry.get('id') or entry.get('name')!r}"
    for name in sorted(set(entry) - allowed):
        raise BadInputError(f"{label}: unknown key {name!r} (expected {', '.join(sorted(allowed))})")
    for name in sorted(required - set(entry)):
        raise BadInputError(f"{label}: {name!r} is required")
    return label, entry


def load_references(path: Path | None = None) -> list[ReferenceItem]:
    """The reference items of ``path`` (YAML), their files read; one-line causes."""
    from scribeflow.core.languages import LANGUAGES

    path = Path(path or default_references_path()).resolve()
    items: list[ReferenceItem] = []
    for index, raw in enumerate(_yaml(path, "items")):
        label, entry = _entry(path, "items", index, raw,
                              {"id", "media", "transcript", "document", "language"},
                              {"id", "media", "transcript"})
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", str(entry["id"])):
            raise BadInputError(f"{label}: id must be letters, digits, '-', '_' or '.'")
        if any(i.id == entry["id"] for i in items):
            raise BadInputError(f"{label}: a second item with this id")
        language = str(entry.get("language") or "en")
        if language not in LANGUAGES:
            raise BadInputError(f"{label}: unknown language {language!r}")
        media = str(entry["media"])
        if "://" not in media:
            media = str((path.parent / media).resolve())
            if not Path(media).is_file():
                raise BadInputError(f"{label}: media file not found: {media}")
        transcript = _text(path, label, entry["transcript"], "transcript")
        document = _text(path, label, entry["document"], "document") if entry.get("document") \
            else None
        items.append(ReferenceItem(id=str(entry["id"]), media=media, transcript=transcript,
                                   language=language, document=document))
    return items


def _text(path: Path, label: str, name: Any, what: str) -> str:
    file = (path.parent / str(name)).resolve()
    if not file.is_file():
        raise BadInputError(f"{label}: reference {what} not found: {file}")
    text = file.read_text(encoding="utf-8")
    if not normalise(text):
        raise BadInputError(f"{label}: reference {what} {file.name} is empty")
    return text


def load_candidates(path: Path | None = None) -> list[Candidate]:
    """The configurations of ``path`` (YAML), each checked as the pipeline would."""
    from scribeflow.core.config import PipelineSettings

    path = Path(path or default_configs_path()).resolve()
    known = {f.name for f in dataclasses.fields(PipelineSettings)} - set(FIXED_SETTINGS)
    candidates: list[Candidate] = []
    for index, raw in enumerate(_yaml(path, "configs", ("floors",))):
        label, entry = _entry(path, "configs", index, raw,
                              {"name", "settings", "prompts", "llm_model"}, {"name"})
        settings = entry.get("settings") or {}
        if not isinstance(settings, dict):
            raise BadInputError(f"{label}: settings: expected a mapping")
        for name in sorted(set(settings) - known):
            raise BadInputError(f"{label}: settings: {name!r} is not a setting a configuration "
                                f"can change")
        try:
            PipelineSettings.from_env(settings)
        except ScribeflowError as exc:
            raise BadInputError(f"{label}: {exc}") from None
        prompts = None
        if entry.get("prompts"):
            folder = (path.parent / str(entry["prompts"])).resolve()
            if not folder.is_dir() or not list(folder.glob("*.md")):
                raise BadInputError(f"{label}: prompts: no prompt templates (*.md) in {folder}")
            prompts = str(folder)
        if any(c.name == str(entry["name"]) for c in candidates):
            raise BadInputError(f"{label}: a second configuration with this name")
        candidates.append(Candidate(name=str(entry["name"]), settings=dict(settings),
                                    prompts=prompts, llm_model=entry.get("llm_model") or None))
    return candidates


@dataclass(frozen=True)
class Margins:
    """How much worse than its baseline a configuration may get before the run fails."""

    #: WER may rise by this much (absolute: 0.02 is two points).
    wer: float = 0.02
    #: The quality score (0-100) may drop by this much.
    quality: float = 5.0
    #: The share of the reference's content words the document keeps may drop by this much.
    content: float = 0.05

    def __post_init__(self) -> None:
        for name in ("wer", "quality", "content"):
            if getattr(self, name) < 0:
                raise BadInputError(f"margin {name} must not be negative, not {getattr(self, name)}")


@dataclass(frozen=True)
class Floors:
    """Absolute limits a configuration must meet on each spoken language's items, whatever
    its baseline, so one that never worked fails (a baseline only catches getting worse):
    the highest WER per language code, ``default`` for the others. Read from the
    configurations file's ``floors:`` (:func:`load_floors`); none when it has none."""

    #: language code (or ``default``) -> the highest WER allowed
    wer: dict[str, float] = field(default_factory=dict)

    def max_wer(self, language: str) -> float | None:
        return self.wer.get(language, self.wer.get("default"))

    def failures(self, now: dict[str, Any]) -> list[str]:
        """One line per language whose WER is above its floor."""
        found = []
        for language, wer in (now.get("wer_by_language") or {}).items():
            limit = self.max_wer(language)
            if wer is not None and limit is not None and wer > limit + 1e-9:
                found.append(f"{language} WER {wer:.4g} above its floor {limit:g}")
        return found


def load_floors(path: Path | str | None = None) -> Floors:
    """The ``floors:`` of a configurations file (default: the shipped one)::

        floors:
          wer: {default: 0.35, es: 0.4}
    """
    from scribeflow.core.languages import LANGUAGES

    path = Path(path or default_configs_path()).resolve()
    raw = _document(path, "configs", ("floors",)).get("floors")
    if raw is None:
        return Floors()
    if not isinstance(raw, dict) or set(raw) - {"wer"} or not isinstance(raw.get("wer", {}), dict):
        raise BadInputError(f"{path}: floors: expected wer: {{<language or default>: <highest "
                            f"WER>}}")
    limits = {}
    for language, value in (raw.get("wer") or {}).items():
        if language != "default" and language not in LANGUAGES:
            raise BadInputError(f"{path}: floors: wer: {language!r} is not a language code "
                                "(or default)")
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value:
            raise BadInputError(f"{path}: floors: wer: {language}: expected a number from 0, "
                                f"not {value!r}")
        limits[str(language)] = float(value)
    return Floors(wer=limits)


