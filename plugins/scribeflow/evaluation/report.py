"""An evaluation's outcome: the gate applied, the HTML report with its charts, the table
the CLI prints, the summary and the run's note."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scribeflow.evaluation.references import Floors, Margins
from scribeflow.evaluation.results import compare, gate_cause, read_results, store_results

if TYPE_CHECKING:
    pass


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


def record_evaluation_failure(root: Path, run: dict[str, str], step: str, cause: str) -> None:
    """``runs/<run_id>.json`` of a run that could not finish: the step and its cause."""
    from scribeflow.core.files import write_json_atomic

    write_json_atomic(Path(root) / "runs" / f"{_safe(run['run_id'])}.json",
                      {**run, "failed": f"{step}: {cause}", "configs": []})


def read_evaluation_summary(root: Path, run_id: str) -> dict[str, Any] | None:
    from scribeflow.core.files import read_json

    path = Path(root) / "runs" / f"{_safe(run_id)}.json"
    return read_json(path) if path.exists() else None


def evaluation_note(summary: dict[str, Any] | None, state: str) -> str:
    """The line an evaluation run shows in the UI."""
    if summary is None:
        return f"{state}: no evaluation summary was written (see the task logs)"
    if summary.get("failed"):
        where = f" (report: {summary['report']})" if summary.get("report") else ""
        return f"failed: {summary['failed']}{where}"
    return (f"{state}: {len(summary['configs'])} configurations, none worse than its baseline "
            "or below its floors "
            f"(report: {summary['report']})")


