from scribeflow.files import DataPaths, read_json
from scribeflow.summary import format_summary, record_failure, update_run_summary


def test_summary_merges_and_records_failure(tmp_path):
    data = DataPaths(tmp_path)
    update_run_summary(data, "manual__2026-01-01T00:00:00+00:00", url="u", outputs={"a": "1"},
                       warnings=["w1"])
    update_run_summary(data, "manual__2026-01-01T00:00:00+00:00", outputs={"b": "2"}, warnings=["w2"])
    path = record_failure(data, "manual__2026-01-01T00:00:00+00:00", "download",
                          ValueError("bad\nthing"))
    assert path.parent.name == "manual__2026-01-01T00_00_00_00_00"
    summary = read_json(path)
    assert summary["outputs"] == {"a": "1", "b": "2"} and summary["warnings"] == ["w1", "w2"]
    assert summary["status"] == "failed"
    assert summary["error"] == {"step": "download", "cause": "ValueError: bad thing", "kind": "error"}
    text = format_summary(summary)
    assert "error:            ValueError: bad thing (step download)" in text


def test_format_success():
    text = format_summary({"status": "success", "title": "T", "duration": 61.25,
                           "real_time_factor": 0.0712, "outputs": {"document": "/d.md"}})
    assert text.splitlines() == ["status:           success", "title:            T",
                                 "duration:         61.2 s", "real-time factor: 0.071",
                                 "quality:          not scored", "document:         /d.md"]
