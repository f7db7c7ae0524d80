import datetime as dt
from pathlib import Path

import pytest

from scribeflow.core.errors import BadInputError
from scribeflow.sources.catalog import Source, load_sources, parse_seconds, parse_sources

GOOD = {"name": "good", "url": "https://example.org/feed.xml", "schedule": "@daily",
        "start_date": "2026-01-01"}


def test_a_valid_file_loads_with_defaults_applied(tmp_path):
    path = tmp_path / "channels.yaml"
    path.write_text("defaults:\n  max_per_run: 3\n  cooldown: 2h\n  request_sleep: [1, 4]\n"
                    "sources:\n  - name: pod\n    url: https://example.org/feed.xml\n"
                    "    schedule: '0 6 * * 1'\n    start_date: 2026-01-01\n"
                    "    max_per_run: 7\n    min_duration: 2m\n    title_exclude: trailer\n")
    loaded = load_sources(path)
    assert loaded.errors == ()
    (source,) = loaded.sources
    assert source.dag_id == "channel__pod" and source.max_per_run == 7
    assert source.cooldown == 7200 and source.request_sleep == (1.0, 4.0)
    assert source.min_duration == 120 and source.title_exclude == ("trailer",)
    assert source.start_date == dt.date(2026, 1, 1) and source.catchup is True
    assert source.run_conf() == {"source": "pod"}


@pytest.mark.parametrize(("change", "message"), [
    ({"schedule": "every day"}, "schedule: 'every day' is not a five-field cron expression"),
    ({"schedule": "61 * * * *"}, "schedule: '61 * * * *' is not a five-field cron"),
    ({"name": "Bad Name"}, "name: 'Bad Name' is not a slug"),
    ({"url": "ftp://x.org/f"}, "url: not an http(s) URL: 'ftp://x.org/f'"),
    ({"start_date": "yesterday"}, "start_date: Input should be a valid date"),
    ({"colour": "red"}, "colour: unknown field"),
    ({"max_per_run": 0}, "max_per_run: Input should be greater than or equal to 1"),
    ({"min_duration": "10m", "max_duration": "1m"}, "min_duration 600 s is above max_duration 60 s"),
    ({"title_exclude": ["(unclosed"]}, "title_exclude: not a regular expression: '(unclosed'"),
    ({"request_sleep": [5, 1]}, "request_sleep: the range's minimum 5.0 is above its maximum"),
    ({"store": "sqlite"}, "store: unknown store 'sqlite'"),
    ({"cooldown": "soon"}, "cooldown: not a duration: 'soon'"),
    ({"kind": "podcast"}, "kind: Input should be 'auto', 'feed' or 'playlist'"),
    ({"translate_to": ["de", "klingon"]}, "translate_to: unknown language 'klingon' in "
                                          "translate_to"),
    ({"language": "german"}, "language: unknown language 'german': use auto or a code"),
    ({"subtitle_lines": 5}, "subtitle_lines: Input should be less than or equal to 3"),
])
def test_a_bad_entry_is_one_line_naming_entry_and_field_and_the_rest_loads(change, message):
    bad = {**GOOD, "name": "bad"} | change
    loaded = parse_sources({"sources": [GOOD, bad]}, Path("channels.yaml"))
    assert [s.name for s in loaded.sources] == ["good"]
    assert len(loaded.errors) == 1, loaded.errors
    label = f"channels.yaml: sources[1] '{bad['name']}': "
    assert loaded.errors[0].startswith(label) and message in loaded.errors[0], loaded.errors
    assert "\n" not in loaded.errors[0]


def test_missing_fields_and_duplicates_are_named():
    loaded = parse_sources({"sources": [GOOD, {"name": "x"}, dict(GOOD), "just a string"]},
                           Path("c.yaml"))
    assert [s.name for s in loaded.sources] == ["good"]
    assert "c.yaml: sources[1] 'x': url: required field missing" in loaded.errors
    assert "c.yaml: sources[2] 'good': name 'good' is already used by sources[0]" in loaded.errors
    assert "c.yaml: sources[3]: expected a mapping, got str" in loaded.errors


@pytest.mark.parametrize(("text", "error"), [
    ("sources: [\n", "not valid YAML"),
    ("- a\n- b\n", "expected a mapping with 'sources'"),
    ("sources: {a: 1}\n", "sources: expected a list"),
    ("source:\n  - name: x\n", "unknown top-level key 'source'"),
])
def test_a_broken_file_says_why(tmp_path, text, error):
    path = tmp_path / "channels.yaml"
    path.write_text(text)
    loaded = load_sources(path)
    assert loaded.sources == () and any(error in e for e in loaded.errors), loaded.errors


def test_a_missing_file_holds_no_sources(tmp_path):
    assert load_sources(tmp_path / "none.yaml").sources == ()


def test_unknown_source_names_the_known_ones(tmp_path):
    loaded = parse_sources({"sources": [GOOD, {**GOOD, "name": "bad", "schedule": "x"}]},
                           tmp_path / "c.yaml")
    with pytest.raises(BadInputError, match=r"unknown source 'nope'; the sources in .* are: good"):
        loaded.get("nope")
    with pytest.raises(BadInputError, match="sources\\[1\\] 'bad': schedule"):
        loaded.get("bad")


def test_run_conf_carries_the_per_source_settings():
    source = Source.model_validate({**GOOD, "language": "de", "whisper_model": "small",
                                    "quiz": True, "store": "pgvector", "cookies_conn_id": "yt",
                                    "download_sleep": [2, 9]})
    assert source.run_conf() == {"source": "good", "language": "de", "whisper_model": "small",
                                 "quiz": True, "store": "pgvector", "cookies_conn_id": "yt",
                                 "download_sleep_min": 2.0, "download_sleep_max": 9.0}
    translated = Source.model_validate({**GOOD, "translate_to": "de, fr", "subtitle_chars": 32,
                                        "subtitle_lines": 1})
    assert translated.run_conf() == {"source": "good", "translate_to": ["de", "fr"],
                                     "subtitle_chars": 32, "subtitle_lines": 1}


@pytest.mark.parametrize(("value", "seconds"), [(90, 90), ("90s", 90), ("15m", 900),
                                                ("6h", 21600), ("1d", 86400), ("2.5m", 150)])
def test_durations(value, seconds):
    assert parse_seconds(value) == seconds


def test_the_shipped_sources_file_is_valid():
    loaded = load_sources(Path(__file__).resolve().parents[3] / "include" / "channels.yaml")
    assert loaded.errors == () and loaded.sources
