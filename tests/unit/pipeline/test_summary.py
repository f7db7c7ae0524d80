from scribeflow.core.files import DataPaths, read_json
from scribeflow.pipeline.summary import format_summary, record_failure, update_run_summary


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


def test_the_run_note_gives_the_outcome_and_keeps_a_trigger_note():
    from scribeflow.pipeline.summary import run_note

    failed = {"status": "failed", "error": {"step": "download", "cause": "HTTP Error 404"}}
    assert run_note(failed, "failed") == "Result: failed at download: HTTP Error 404"
    # a channel's trigger note stays; a re-run replaces the earlier outcome, never stacks it
    first = run_note(failed, "failed", "channel__nasa: Moon landing (2024-05-01)")
    assert first == ("channel__nasa: Moon landing (2024-05-01)\n"
                     "Result: failed at download: HTTP Error 404")
    done = {"status": "success", "chunks": 12, "rows": 12}
    assert run_note(done, "success", first) == ("channel__nasa: Moon landing (2024-05-01)\n"
                                                "Result: success: 12 chunks, 12 rows stored")
    degraded = {"status": "degraded", "degraded": ["chunk 3 kept its raw text", "quiz: x"]}
    assert run_note(degraded, "success") == \
        "Result: degraded: chunk 3 kept its raw text (and 1 more)"
    # no summary (the run died before its first task wrote one): still not a bare "failed"
    assert run_note(None, "failed") == "Result: failed: a task failed; see its log"
    long = run_note({"error": {"step": "x", "cause": "y" * 5000}}, "failed")
    assert len(long) <= 1000 and "\n" not in long


def test_the_note_names_the_video_counts_in_words_and_links_its_results_page():
    from scribeflow.pipeline.summary import run_note

    done = {"status": "success", "chunks": 1, "rows": 1, "title": "The water cycle",
            "video_id": "file-abc", "run_id": "manual__2026-12-03T18:02:39+00:00"}
    note = run_note(done, "success")
    assert note.split("\n") == [
        "Video: The water cycle",  # the first line: what the runs list shows
        "Result: success: 1 chunk, 1 row stored",
        "Results page: [/scribeflow/videos/file-abc](/scribeflow/videos/file-abc"
        "?run=manual__2026-12-03T18%3A02%3A39%2B00%3A00)"]
    # ended again (a cleared task): every line of ours replaced, none stacked
    again = run_note(done | {"chunks": 2, "rows": 2}, "success", note)
    assert again.split("\n")[:2] == ["Video: The water cycle", "Result: success: 2 chunks, 2 rows stored"]
    assert len(again.split("\n")) == 3
    # a channel's trigger note names the video already: no title line of ours
    channel = run_note(done, "success", "channel__nasa: Moon landing (2024-05-01)")
    assert channel.split("\n")[0] == "channel__nasa: Moon landing (2024-05-01)"
    assert not any(line.startswith("Video: ") for line in channel.split("\n"))
    # a failure before the video was known: only the outcome
    failed = {"status": "failed", "error": {"step": "download", "cause": "HTTP Error 404"}}
    assert run_note(failed, "failed") == "Result: failed at download: HTTP Error 404"


def test_the_summary_has_one_typed_writer_and_reader(tmp_path):
    """A field the summary does not declare fails at once (a renamed field cannot turn into
    a key no reader looks for); what is written reads back typed, merged as declared."""
    import pytest

    from scribeflow.core.config import PipelineSettings
    from scribeflow.pipeline.summary import RunSummary, read_run_summary

    data = DataPaths(tmp_path)
    update_run_summary(data, "r1", status="running", url="u", warnings=["a"],
                       outputs={"folder": "/v"})
    update_run_summary(data, "r1", chunks=3, warnings=["b"], outputs={"document": "/v/d.md"})
    with pytest.raises(TypeError, match=r"RunSummary has no field\(s\) \['chapters'\]"):
        update_run_summary(data, "r1", chapters=2)
    found = read_run_summary(PipelineSettings.from_env({"data_dir": tmp_path}), "r1")
    assert isinstance(found, RunSummary) and found.run_id == "r1" and found.chunks == 3
    assert found.warnings == ["a", "b"]
    assert found.outputs == {"folder": "/v", "document": "/v/d.md"}
    assert RunSummary.from_dict(found.to_dict() | {"from_an_old_version": 1}) == found
