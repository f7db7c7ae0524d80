"""The evaluation's measures, its files' validation, the results table and the gate."""

from __future__ import annotations

from pathlib import Path

import pytest

from scribeflow.core.errors import BadInputError
from scribeflow.evaluation.metrics import content_kept, error_rates, normalise
from scribeflow.evaluation.references import Margins, load_candidates, load_references
from scribeflow.evaluation.results import compare, gate_cause, read_results, store_results


def test_normalisation_is_what_the_docs_say():
    assert normalise("Straße — the SUN’s heat; let's go!  ##Title") == \
        "strasse the sun's heat let's go title"
    assert normalise("'quoted' words_with_underscores") == "quoted words with underscores"
    assert normalise("Ｆｕｌｌ ｗｉｄｔｈ 42") == "full width 42"


def test_error_rates_after_normalisation():
    assert error_rates("The sun, heats the ocean.", "the sun heats the ocean") == \
        {"wer": 0.0, "cer": 0.0}
    rates = error_rates("the sun heats the ocean", "the son heats ocean")
    assert rates == {"wer": 0.4, "cer": 0.2174}  # 2 of 5 words; 5 of 23 characters
    assert error_rates("words", "") == {"wer": 1.0, "cer": 1.0}
    with pytest.raises(ValueError):
        error_rates(" ... ", "anything")


def test_content_kept_ignores_stop_words():
    reference = "The leaves take in carbon dioxide from the air."
    assert content_kept(reference, "Leaves take carbon dioxide from air", "en") == 1.0
    assert content_kept(reference, "The leaves take in the air.", "en") == 0.6  # 3 of 5
    assert content_kept("Las hojas toman agua del suelo", "hojas agua", "es") == 0.5


def _references(tmp_path: Path, body: str) -> Path:
    (tmp_path / "a.mp3").write_bytes(b"media")
    (tmp_path / "a.txt").write_text("What was said.")
    (tmp_path / "empty.txt").write_text(" ... ")
    path = tmp_path / "references.yaml"
    path.write_text(body)
    return path


@pytest.mark.parametrize(("body", "cause"), [
    ("items: [{id: a, media: a.mp3, transcript: a.txt}, {id: a, media: a.mp3, transcript: a.txt}]",
     "items[1] 'a': a second item with this id"),
    ("items: [{id: a, media: b.mp3, transcript: a.txt}]", "media file not found: "),
    ("items: [{id: a, media: a.mp3, transcript: b.txt}]", "reference transcript not found: "),
    ("items: [{id: a, media: a.mp3, transcript: empty.txt}]", "empty.txt is empty"),
    ("items: [{id: a, media: a.mp3}]", "items[0] 'a': 'transcript' is required"),
    ("items: [{id: a, media: a.mp3, transcript: a.txt, lang: en}]", "unknown key 'lang'"),
    ("items: [{id: a, media: a.mp3, transcript: a.txt, language: english}]",
     "unknown language 'english'"),
    ("items: [{id: 'a/b', media: a.mp3, transcript: a.txt}]", "id must be letters"),
    ("items: []", "expected a mapping with a non-empty list 'items'"),
    ("items: [a, b", "not valid YAML"),
    ("references: []", "expected a mapping with a non-empty list 'items'"),
])
def test_reference_files_fail_with_one_line(tmp_path, body, cause):
    with pytest.raises(BadInputError) as caught:
        load_references(_references(tmp_path, body))
    assert cause in str(caught.value) and "\n" not in str(caught.value)


def test_the_shipped_reference_set_loads():
    items = load_references()
    assert {i.language for i in items} == {"en", "es"} and len(items) >= 3
    assert all(Path(i.media).is_file() and i.transcript.strip() for i in items)
    assert any(i.document for i in items)


@pytest.mark.parametrize(("body", "cause"), [
    ("configs: [{name: a, settings: {store: pgvector}}]", "'store' is not a setting a "
                                                          "configuration can change"),
    ("configs: [{name: a, settings: {beam_size: 0}}]", "beam_size must be at least 1, not 0"),
    ("configs: [{name: a, settings: {whisper_batched: maybe}}]", "is not true or false"),
    ("configs: [{name: a, prompts: nowhere}]", "no prompt templates (*.md) in"),
    ("configs: [{name: a}, {name: a}]", "a second configuration with this name"),
    ("configs: [{settings: {}}]", "'name' is required"),
])
def test_configuration_files_fail_with_one_line(tmp_path, body, cause):
    path = tmp_path / "configs.yaml"
    path.write_text(body)
    with pytest.raises(BadInputError) as caught:
        load_candidates(path)
    assert cause in str(caught.value) and "\n" not in str(caught.value)


def test_a_configuration_is_keyed_by_what_it_is(tmp_path):
    prompts = tmp_path / "p"
    prompts.mkdir()
    (prompts / "polish_sentences.md").write_text("---\nversion: x\n---\nText {{ text }}")
    path = tmp_path / "configs.yaml"
    path.write_text("configs: [{name: a, prompts: p}, {name: b, settings: {beam_size: 2}}]")
    a, b = load_candidates(path)
    key = a.key
    assert load_candidates(path)[0].key == key and b.key != key
    (prompts / "polish_sentences.md").write_text("---\nversion: x\n---\nOther {{ text }}")
    assert load_candidates(path)[0].key != key  # the prompt's text changed


def _row(run: str, at: str, config: str, item: str, **figures) -> dict:
    return {"run_id": run, "evaluated_at": at, "config": config, "item": item,
            "wer": 0.1, "quality": 90.0, "content_kept": 0.9, "error": None} | figures


def test_results_are_upserted_by_run_and_configuration(tmp_path):
    store_results(tmp_path, [_row("r1", "1", "a", "x"), _row("r1", "1", "b", "x")])
    store_results(tmp_path, [_row("r1", "1", "a", "x", wer=0.3)])  # the report again
    store_results(tmp_path, [_row("r2", "2", "a", "x")])
    rows = read_results(tmp_path)
    assert sorted((r["run_id"], r["config"], r["wer"]) for r in rows) == \
        [("r1", "a", 0.3), ("r1", "b", 0.1), ("r2", "a", 0.1)]
    assert not list(tmp_path.glob(".*part"))


def test_results_of_an_older_table_without_a_column_are_kept(tmp_path):
    """A table written before the ``speakers`` column: its rows stay, the column is empty."""
    import polars as pl

    store_results(tmp_path, [_row("r1", "1", "a", "x")])
    path = tmp_path / "results.parquet"
    pl.read_parquet(path).drop("speakers").write_parquet(path)
    store_results(tmp_path, [_row("r2", "2", "a", "x", speakers=2)])
    rows = sorted(read_results(tmp_path), key=lambda r: r["run_id"])
    assert [(r["run_id"], r["speakers"]) for r in rows] == [("r1", None), ("r2", 2)]


def test_the_gate_compares_with_the_previous_run_within_margins():
    table = [
        _row("r1", "1", "a", "x", wer=0.10), _row("r1", "1", "a", "y", wer=0.20),
        _row("r2", "2", "a", "x", wer=0.11), _row("r2", "2", "a", "y", wer=0.20),
        _row("r3", "3", "a", "x", wer=0.20, quality=80.0), _row("r3", "3", "a", "y", wer=0.20),
        _row("r3", "3", "a", "z", wer=0.90),  # a new item: not in the baseline's figures
    ]
    r2 = compare(table, "r2", Margins())[0]
    assert r2["baseline_run"] == "r1" and r2["regressions"] == [] and gate_cause([r2]) is None
    r3 = compare(table, "r3", Margins())[0]
    assert r3["baseline_run"] == "r2"
    # quality fell by exactly its margin: allowed
    assert r3["regressions"] == ["WER 0.155 → 0.2 (+0.045, margin 0.02)"]
    assert compare(table, "r3", Margins(wer=0.05))[0]["regressions"] == []
    assert compare(table, "r3", Margins(wer=0.05, quality=4))[0]["regressions"] == \
        ["quality 90 → 85 (-5, margin 4)"]
    assert gate_cause([r3]).startswith("worse than the baseline: a: WER 0.155 → 0.2")


def test_a_failed_item_fails_the_gate():
    table = [_row("r1", "1", "a", "x"), _row("r2", "2", "a", "x", wer=None, error="boom")]
    assert compare(table, "r2", Margins())[0]["regressions"] == ["x failed: boom"]
    with pytest.raises(BadInputError, match="margin wer must not be negative"):
        Margins(wer=-1)


def test_floors_fail_a_configuration_that_never_worked_whatever_its_baseline(tmp_path):
    from scribeflow.evaluation.references import Floors, load_floors

    rows = [_row("r1", "1", "a", "x", wer=0.1) | {"language": "en"},
            _row("r1", "1", "a", "y", wer=1.0) | {"language": "es"}]
    floors = Floors(wer={"default": 0.35})
    (first,) = compare(rows, "r1", Margins(), floors=floors)
    assert first["baseline"] is None and first["regressions"] == []  # nothing to compare with
    assert first["below_floors"] == ["es WER 1 above its floor 0.35"]
    assert gate_cause([first]) == "below its floors: a: es WER 1 above its floor 0.35"
    # per language: a looser floor for Spanish lets it pass
    assert compare(rows, "r1", Margins(), floors=Floors(wer={"default": 0.35, "es": 1.0})
                   )[0]["below_floors"] == []
    assert compare(rows, "r1", Margins())[0]["below_floors"] == []  # no floors: none apply
    again = rows + [_row("r2", "2", "a", "x", wer=0.2) | {"language": "en"},
                    _row("r2", "2", "a", "y", wer=1.0) | {"language": "es"}]
    both = compare(again, "r2", Margins(), floors=floors)
    assert gate_cause(both).startswith("worse than the baseline: a: WER 0.55 → 0.6") and \
        gate_cause(both).endswith(" and below its floors: a: es WER 1 above its floor 0.35")
    path = tmp_path / "configs.yaml"
    path.write_text("floors:\n  wer: {default: 0.3, es: 0.5}\nconfigs: [{name: a}]\n")
    assert load_floors(path) == Floors(wer={"default": 0.3, "es": 0.5})
    path.write_text("configs: [{name: a}]\n")
    assert load_floors(path) == Floors()


@pytest.mark.parametrize(("floors", "cause"), [
    ("wer: {xx: 0.3}", "floors: wer: 'xx' is not a language code (or default)"),
    ("wer: {en: -1}", "floors: wer: en: expected a number from 0, not -1"),
    ("wer: {en: low}", "floors: wer: en: expected a number from 0, not 'low'"),
    ("cer: {en: 0.1}", "floors: expected wer: {<language or default>: <highest WER>}"),
])
def test_bad_floors_are_one_line(tmp_path, floors, cause):
    from scribeflow.evaluation.references import load_floors

    path = tmp_path / "configs.yaml"
    path.write_text(f"floors:\n  {floors}\nconfigs: [{{name: a}}]\n")
    with pytest.raises(BadInputError) as caught:
        load_floors(path)
    assert str(caught.value).endswith(cause) and "\n" not in str(caught.value)


def test_the_shipped_configurations_have_floors():
    from scribeflow.evaluation.references import load_floors

    assert load_floors().wer == {"default": 0.35}
