"""Evaluation: how close a configuration's transcripts and documents come to reference texts.

Text is compared after one normalisation (:func:`normalise`), applied to the reference and
the hypothesis alike:

1. Unicode NFKC, then case folded (``Straße`` → ``strasse``);
2. apostrophes unified (``’`` → ``'``) and kept inside words (``let's``), dropped elsewhere;
3. every other character that is not a letter or a digit becomes a space (punctuation,
   dashes, Markdown marks);
4. runs of spaces collapse to one.

WER and CER are jiwer's on the normalised texts (CER counts spaces too). The document's
*content kept* is the share of the reference's distinct content words (not stop words of its
language, at least three letters) that the document still holds.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import os
import re
import time
import unicodedata
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scribeflow.core.config import PROJECT_ROOT, DeploymentSettings
from scribeflow.core.errors import BadInputError, ScribeflowError

if TYPE_CHECKING:
    from scribeflow.core.config import LLMSettings, TranscriptionSettings

log = logging.getLogger(__name__)

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


# --- the reference set and the configurations ------------------------------------------

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
    from scribeflow.core.config import LANGUAGES

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


# --- running a configuration -------------------------------------------------------------

def evaluation_root(data_dir: Path) -> Path:
    """Where evaluations keep their work and results: ``$SCRIBEFLOW_EVAL_DIR``, by default
    ``evaluation/`` in the data folder."""
    return Path(DeploymentSettings.from_env().eval_dir or Path(data_dir) / "evaluation").resolve()


def prompts_folder(candidate: Candidate, work: Path) -> Path:
    """The default templates with the candidate's over them, in ``work/prompts``."""
    from scribeflow.core.config import default_prompts_dir
    from scribeflow.core.files import write_text_atomic
    from scribeflow.writing.prompts import load_prompt

    if not candidate.prompts:
        return default_prompts_dir()
    folder = work / "prompts"
    for source in (default_prompts_dir(), Path(candidate.prompts)):
        for template in sorted(source.glob("*.md")):
            write_text_atomic(folder / template.name, template.read_text(encoding="utf-8"))
    for template in Path(candidate.prompts).glob("*.md"):
        load_prompt(template.stem, folder)  # a template without a version fails here
    return folder


def evaluate_candidate(candidate: Candidate, items: list[ReferenceItem], root: Path,
                       llm: LLMSettings, endpoint: TranscriptionSettings | None,
                       run: dict[str, str]) -> list[dict[str, Any]]:
    """One result row per item: the candidate's pipeline steps run over it (reusing its
    transcripts and LLM answers from earlier evaluations), then measured against the
    reference. An item that fails gets its one-line cause in ``error``."""
    from scribeflow.core.errors import one_line

    work = root / "configs" / candidate.folder
    prompts = prompts_folder(candidate, work)
    if candidate.llm_model and llm.configured:
        llm = dataclasses.replace(llm, model=candidate.llm_model)
    rows = []
    for item in items:
        row: dict[str, Any] = {**run, "config": candidate.name, "config_key": candidate.key,
                               "item": item.id, "language": item.language}
        try:
            row |= _evaluate_item(candidate, item, work, prompts, llm, endpoint)
            row["error"] = None
        except (ScribeflowError, OSError) as exc:
            row["error"] = one_line(exc)
            log.error("%s on %s: %s", candidate.name, item.id, row["error"])
        rows.append(_complete(row))
    return rows


def _evaluate_item(candidate: Candidate, item: ReferenceItem, work: Path, prompts: Path,
                   llm: LLMSettings, endpoint: TranscriptionSettings | None) -> dict[str, Any]:
    from scribeflow.core.config import PipelineSettings
    from scribeflow.core.files import VideoPaths, read_json, write_json_atomic
    from scribeflow.core.records import Transcript
    from scribeflow.pipeline import steps
    from scribeflow.writing.prompts import load_prompt

    settings = PipelineSettings.from_env(
        {"language": item.language} | candidate.settings
        | {"data_dir": str(work), "prompts": str(prompts)})
    got = steps.download(item.media, settings)
    video = VideoPaths(Path(got["video_dir"]))
    heard = steps.transcribe(got["video_dir"], settings, endpoint)
    started = time.perf_counter()
    parts = [steps.write_document_group(g, llm, settings) for g in steps.split(got["video_dir"],
                                                                                 settings)]
    steps.assemble(got["video_dir"], parts)
    quality = steps.score_quality(got["video_dir"], llm, settings)
    llm_s = time.perf_counter() - started
    transcript = Transcript.from_dict(read_json(video.transcript))
    document = video.document.read_text(encoding="utf-8") if video.document.exists() else ""
    spent = {"requests": sum(p["requests"] for p in parts) + quality["requests"],
             "prompt_tokens": sum(p["prompt_tokens"] for p in parts)
             + quality.get("prompt_tokens", 0),
             "completion_tokens": sum(p["completion_tokens"] for p in parts)
             + quality.get("completion_tokens", 0)}
    cached = sum(p["reused"] for p in parts) + quality["reused"]
    record = video.root / "evaluation.json"
    if spent["requests"]:
        write_json_atomic(record, spent)
    elif cached and record.exists():  # every answer reused: what they cost when asked
        spent = read_json(record)
    minutes = transcript.duration / 60 if transcript.duration else 0.0
    tokens = {"prompt": spent["prompt_tokens"], "completion": spent["completion_tokens"]}
    return {
        "audio_s": round(transcript.duration, 2),
        **error_rates(item.transcript, transcript.text),
        "quality": quality["quality"],
        "content_kept": content_kept(item.document or item.transcript, document, item.language)
        if document.strip() else 0.0,
        "transcribe_s_per_min": round(transcript.processing_s / minutes, 3) if minutes else None,
        "llm_s_per_min": round(llm_s / minutes, 3) if minutes else None,
        "llm_requests": spent["requests"], "llm_cached": cached,
        "prompt_tokens": spent["prompt_tokens"], "completion_tokens": spent["completion_tokens"],
        "cost_usd": steps.estimated_cost(tokens),
        "transcript_reused": heard["reused"], "transcriber": transcript.backend,
        "whisper_model": transcript.model,
        "llm_model": llm.model if llm.configured else None,
        "prompt_versions": json.dumps({name: load_prompt(name, prompts).version
                                       for name in PROMPTS_USED}, sort_keys=True),
    }


#: The templates an evaluation runs: the document stages and the quality score.
PROMPTS_USED = ("polish_sentences", "format_markdown", "cleanup_markdown", "quality_score")
#: The columns of the results table, in order (``evaluation/results.parquet``).
COLUMNS = {
    "run_id": "str", "evaluated_at": "str", "config": "str", "config_key": "str", "item": "str",
    "language": "str", "audio_s": "float", "wer": "float", "cer": "float", "quality": "float",
    "content_kept": "float", "transcribe_s_per_min": "float", "llm_s_per_min": "float",
    "llm_requests": "int", "llm_cached": "int", "prompt_tokens": "int",
    "completion_tokens": "int", "cost_usd": "float", "transcript_reused": "bool",
    "transcriber": "str", "whisper_model": "str", "llm_model": "str", "prompt_versions": "str",
    "error": "str",
}


def _complete(row: dict[str, Any]) -> dict[str, Any]:
    return {name: row.get(name) for name in COLUMNS}


# --- results, baseline, gate and report ----------------------------------------------------

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
    from scribeflow.core.config import LANGUAGES

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


def results_path(root: Path) -> Path:
    return Path(root) / "results.parquet"


def store_results(root: Path, rows: list[dict[str, Any]]) -> Path:
    """Upsert ``rows`` into the results table: a run's rows for a configuration replace the
    ones that run wrote before (re-running a run's report changes nothing)."""
    import polars as pl

    from scribeflow.core.files import locked

    path = results_path(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    new = _frame(rows)
    with locked(path):
        table = new
        if path.exists():
            old = pl.read_parquet(path)
            old = old.join(new.select("run_id", "config").unique(), on=["run_id", "config"],
                           how="anti")
            table = pl.concat([old.select(list(COLUMNS)), new], how="vertical_relaxed")
        partial = path.with_name(f".{path.name}.{os.getpid()}.part")
        table.sort("evaluated_at", "config", "item").write_parquet(partial)
        os.replace(partial, path)
    return path


def read_results(root: Path) -> list[dict[str, Any]]:
    import polars as pl

    path = results_path(root)
    return pl.read_parquet(path).to_dicts() if path.exists() else []


def _frame(rows: list[dict[str, Any]]) -> Any:
    import polars as pl

    kinds = {"str": pl.Utf8, "float": pl.Float64, "int": pl.Int64, "bool": pl.Boolean}
    return pl.DataFrame([_complete(r) for r in rows],
                        schema={name: kinds[kind] for name, kind in COLUMNS.items()})


def _mean(values: list[Any]) -> float | None:
    known = [float(v) for v in values if v is not None]
    return round(sum(known) / len(known), 4) if known else None


def aggregate(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """One configuration's figures over its items: means of the rates and scores, sums of
    tokens and cost."""
    ok = [r for r in rows if not r.get("error")]
    costs = [r["cost_usd"] for r in ok if r.get("cost_usd") is not None]
    return {
        "items": len(rows), "errors": len(rows) - len(ok),
        **{m: _mean([r.get(m) for r in ok]) for m in
           ("wer", "cer", "quality", "content_kept", "transcribe_s_per_min", "llm_s_per_min")},
        "prompt_tokens": sum(r.get("prompt_tokens") or 0 for r in ok),
        "completion_tokens": sum(r.get("completion_tokens") or 0 for r in ok),
        "cost_usd": round(sum(costs), 6) if costs else None,
        "llm_requests": sum(r.get("llm_requests") or 0 for r in ok),
        "wer_by_language": {lang: _mean([r.get("wer") for r in ok if r.get("language") == lang])
                            for lang in sorted({r.get("language") for r in ok} - {None})},
    }


def compare(table: list[dict[str, Any]], run_id: str, margins: Margins,
            order: list[str] | None = None, floors: Floors | None = None
            ) -> list[dict[str, Any]]:
    """Each configuration of run ``run_id`` (in ``order``, by default as the table has them)
    against its baseline (its previous evaluation, on the items both have), with the
    regressions beyond ``margins``, and against ``floors``."""
    current = [r for r in table if r["run_id"] == run_id]
    names = list(dict.fromkeys(order or [])) + [r["config"] for r in current]
    out = []
    for name in dict.fromkeys(n for n in names if any(r["config"] == n for r in current)):
        rows = [r for r in current if r["config"] == name]
        now = aggregate(rows)
        earlier = [r for r in table if r["config"] == name and r["run_id"] != run_id
                   and r["evaluated_at"] < rows[0]["evaluated_at"]]
        entry: dict[str, Any] = {"config": name, "now": now, "rows": rows, "baseline": None,
                                 "baseline_run": None, "regressions": []}
        entry["regressions"] += [f"{r['item']} failed: {r['error']}" for r in rows if r["error"]]
        entry["below_floors"] = (floors or Floors()).failures(now)
        if earlier:
            last = max(r["evaluated_at"] for r in earlier)
            base_rows = [r for r in earlier if r["evaluated_at"] == last]
            # the items both measured: a failed item is a regression of its own, above
            common = ({r["item"] for r in base_rows if not r["error"]}
                      & {r["item"] for r in rows if not r["error"]})
            base = aggregate([r for r in base_rows if r["item"] in common])
            same = aggregate([r for r in rows if r["item"] in common])
            entry |= {"baseline": base, "baseline_run": base_rows[0]["run_id"],
                      "baseline_at": last, "compared": same}
            entry["regressions"] += _regressions(base, same, margins)
        out.append(entry)
    return out


def _regressions(base: dict[str, Any], now: dict[str, Any], margins: Margins) -> list[str]:
    found = []
    checks = (("wer", "WER", margins.wer, 1), ("quality", "quality", margins.quality, -1),
              ("content_kept", "content kept", margins.content, -1))
    for key, label, margin, worse in checks:
        before, after = base.get(key), now.get(key)
        if before is None or after is None:
            continue
        change = (after - before) * worse
        if change > margin + 1e-9:
            found.append(f"{label} {before:.4g} → {after:.4g} ({after - before:+.4g}, margin "
                         f"{margin:g})")
    return found


def gate_cause(comparisons: list[dict[str, Any]]) -> str | None:
    """One line naming every configuration that got worse than its baseline or is below its
    floors, or None."""
    parts = []
    for key, head in (("regressions", "worse than the baseline"), ("below_floors",
                                                                    "below its floors")):
        named = [f"{c['config']}: {'; '.join(c[key])}" for c in comparisons if c.get(key)]
        if named:
            parts.append(f"{head}: {' | '.join(named)}")
    return " and ".join(parts) or None


def write_report(root: Path, run: dict[str, str], comparisons: list[dict[str, Any]],
                 margins: Margins) -> Path:
    """``reports/<run_id>.html`` (and ``report.html``, the latest): the configurations'
    figures against their baselines, with charts of WER and quality, and every item."""
    from scribeflow.core.files import write_text_atomic
    from scribeflow.writing.render import template

    for c in comparisons:
        for r in c["rows"]:
            versions = json.loads(r.get("prompt_versions") or "{}")
            r["prompts_label"] = ", ".join(f"{name}: {v}" for name, v in versions.items())
    charts = [
        bar_chart("WER (lower is better)", comparisons, "wer", 1.0),
        bar_chart("Quality score (higher is better)", comparisons, "quality", 100.0),
        bar_chart("Content kept (higher is better)", comparisons, "content_kept", 1.0),
    ]
    html = template("evaluation.html.j2").render(
        run=run, comparisons=comparisons, charts=charts, margins=margins,
        verdict=gate_cause(comparisons))
    path = Path(root) / "reports" / f"{_safe(run['run_id'])}.html"
    write_text_atomic(path, html)
    write_text_atomic(Path(root) / "report.html", html)
    return path


def bar_chart(title: str, comparisons: list[dict[str, Any]], key: str, top: float) -> Any:
    """An inline SVG: one pair of bars per configuration, its baseline and now."""
    import markupsafe

    width, row, left = 560, 34, 190
    height = 30 + row * len(comparisons)
    scale = (width - left - 60) / top
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'role="img" aria-label="{markupsafe.escape(title)}">',
             f'<text x="0" y="16" font-weight="bold">{markupsafe.escape(title)}</text>']
    for i, c in enumerate(comparisons):
        y = 28 + i * row
        parts.append(f'<text x="0" y="{y + 16}">{markupsafe.escape(c["config"])}</text>')
        for j, (label, figures, colour) in enumerate(
                (("baseline", c["baseline"], "#b0b7c3"), ("now", c["now"], "#2f6fdf"))):
            value = (figures or {}).get(key)
            if value is None:
                continue
            bar = max(min(value, top) * scale, 1)
            parts.append(f'<rect x="{left}" y="{y + j * 13}" width="{bar:.1f}" height="11" '
                         f'fill="{colour}"><title>{label}: {value:g}</title></rect>')
            parts.append(f'<text x="{left + bar + 4:.1f}" y="{y + j * 13 + 10}" '
                         f'font-size="11">{value:g}</text>')
    parts.append("</svg>")
    return markupsafe.Markup("".join(parts))


def finish(root: Path, run: dict[str, str], rows: list[dict[str, Any]],
           margins: Margins, floors: Floors | None = None) -> dict[str, Any]:
    """Store the run's rows, compare, write the report and ``runs/<run_id>.json``; the
    summary, with ``failed`` (one line) when a configuration got worse or an item failed."""
    from scribeflow.core.files import write_json_atomic

    table = store_results(root, rows)
    comparisons = compare(read_results(root), run["run_id"], margins,
                          order=[r["config"] for r in rows], floors=floors)
    report = write_report(root, run, comparisons, margins)
    summary = {
        **run, "results": str(table), "report": str(report), "failed": gate_cause(comparisons),
        "configs": [{"config": c["config"], "now": c["now"], "baseline": c["baseline"],
                     "baseline_run": c["baseline_run"], "regressions": c["regressions"],
                     "below_floors": c["below_floors"]}
                    for c in comparisons],
    }
    write_json_atomic(Path(root) / "runs" / f"{_safe(run['run_id'])}.json", summary)
    return summary


def _safe(run_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.+-]+", "_", run_id)


def format_table(summary: dict[str, Any]) -> str:
    """The summary as a plain-text table, for the CLI and the task log."""
    head = ("configuration", "WER", "CER", "quality", "kept", "tr s/min", "tokens", "baseline WER",
            "verdict")
    lines = [head]
    for c in summary["configs"]:
        now, base = c["now"], c["baseline"] or {}
        lines.append((c["config"], _fmt(now["wer"]), _fmt(now["cer"]), _fmt(now["quality"]),
                      _fmt(now["content_kept"]), _fmt(now["transcribe_s_per_min"]),
                      str(now["prompt_tokens"] + now["completion_tokens"]), _fmt(base.get("wer")),
                      "worse" if c["regressions"] else "ok"))
    widths = [max(len(r[i]) for r in lines) for i in range(len(head))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip()
                     for r in lines)


def _fmt(value: Any) -> str:
    return "—" if value is None else f"{value:g}"


def record_failure(root: Path, run: dict[str, str], step: str, cause: str) -> None:
    """``runs/<run_id>.json`` of a run that could not finish: the step and its cause."""
    from scribeflow.core.files import write_json_atomic

    write_json_atomic(Path(root) / "runs" / f"{_safe(run['run_id'])}.json",
                      {**run, "failed": f"{step}: {cause}", "configs": []})


def read_summary(root: Path, run_id: str) -> dict[str, Any] | None:
    from scribeflow.core.files import read_json

    path = Path(root) / "runs" / f"{_safe(run_id)}.json"
    return read_json(path) if path.exists() else None


def run_note(summary: dict[str, Any] | None, state: str) -> str:
    """The line an evaluation run shows in the UI."""
    if summary is None:
        return f"{state}: no evaluation summary was written (see the task logs)"
    if summary.get("failed"):
        where = f" (report: {summary['report']})" if summary.get("report") else ""
        return f"failed: {summary['failed']}{where}"
    return (f"{state}: {len(summary['configs'])} configurations, none worse than its baseline "
            "or below its floors "
            f"(report: {summary['report']})")
