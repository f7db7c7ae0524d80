"""The results table (``evaluation/results.parquet``): one row per configuration and item,
aggregated per run and compared with the previous run."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scribeflow.evaluation.references import Floors, Margins

if TYPE_CHECKING:
    pass


#: The columns of the results table, in order (``evaluation/results.parquet``).
COLUMNS = {
    "run_id": "str", "evaluated_at": "str", "config": "str", "config_key": "str", "item": "str",
    "language": "str", "audio_s": "float", "speakers": "int", "wer": "float", "cer": "float", "quality": "float",
    "content_kept": "float", "transcribe_s_per_min": "float", "llm_s_per_min": "float",
    "llm_requests": "int", "llm_cached": "int", "prompt_tokens": "int",
    "completion_tokens": "int", "cost_usd": "float", "transcript_reused": "bool",
    "transcriber": "str", "whisper_model": "str", "llm_model": "str", "prompt_versions": "str",
    "error": "str",
}


def _complete(row: dict[str, Any]) -> dict[str, Any]:
    return {name: row.get(name) for name in COLUMNS}


def results_file(root: Path) -> Path:
    return Path(root) / "results.parquet"


def store_results(root: Path, rows: list[dict[str, Any]]) -> Path:
    """Upsert ``rows`` into the results table: a run's rows for a configuration replace the
    ones that run wrote before (re-running a run's report changes nothing)."""
    import polars as pl

    from scribeflow.core.files import locked

    path = results_file(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    new = _frame(rows)
    with locked(path):
        table = new
        if path.exists():
            old = pl.read_parquet(path)
            old = old.with_columns([pl.lit(None, dtype=_kinds()[kind]).alias(name)  # older files
                                    for name, kind in COLUMNS.items() if name not in old.columns])
            old = old.join(new.select("run_id", "config").unique(), on=["run_id", "config"],
                           how="anti")
            table = pl.concat([old.select(list(COLUMNS)), new], how="vertical_relaxed")
        partial = path.with_name(f".{path.name}.{os.getpid()}.part")
        table.sort("evaluated_at", "config", "item").write_parquet(partial)
        os.replace(partial, path)
    return path


def read_results(root: Path) -> list[dict[str, Any]]:
    import polars as pl

    path = results_file(root)
    return pl.read_parquet(path).to_dicts() if path.exists() else []


def _frame(rows: list[dict[str, Any]]) -> Any:
    import polars as pl

    kinds = _kinds()
    return pl.DataFrame([_complete(r) for r in rows],
                        schema={name: kinds[kind] for name, kind in COLUMNS.items()})


def _kinds() -> dict[str, Any]:
    import polars as pl

    return {"str": pl.Utf8, "float": pl.Float64, "int": pl.Int64, "bool": pl.Boolean}


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


