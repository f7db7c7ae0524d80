"""A full disk: the data folder on a small tmpfs. The run that meets it fails with one line
naming the cause, nothing written before changes, nothing half-written is left, and the
same run succeeds once there is room."""

from __future__ import annotations

import json
import os

import pytest

from scribeflow.core.errors import StorageFullError, no_space, storage_full
from scribeflow.core.files import DataPaths, write_bytes_atomic
from scribeflow.index.store.parquet import ParquetStore
from support.disk import digests, fill, small_disk
from support.media import speech_video

pytestmark = pytest.mark.e2e
WARM_HOSTS = True  # its runs go to the session's model host and run host

OTHER = ("Bees visit flowers to collect nectar and pollen for the hive.",
         "A worker bee dances to tell the others where the flowers are.",
         "The queen lays thousands of eggs in the wax cells every summer.")


def _leftovers(root):
    """Temporary or partial files anywhere under ``root``."""
    return [str(p.relative_to(root)) for p in root.rglob("*")
            if p.is_file() and (p.name.endswith((".tmp", ".part", ".tmp.wav"))
                                or ".part-" in p.name)]


def test_an_atomic_write_on_a_full_disk_keeps_the_old_file_and_no_temporary(tmp_path):
    with small_disk(tmp_path / "disk", 1) as disk:
        target = write_bytes_atomic(disk / "kept.json", b'{"old": true}')
        fill(disk, leave_kb=8)
        with pytest.raises(OSError) as raised:
            write_bytes_atomic(target, b"x" * 200_000)
        assert no_space(raised.value)
        assert target.read_bytes() == b'{"old": true}'
        assert sorted(p.name for p in disk.iterdir()) == ["filler.bin", "kept.json"]


def test_a_run_on_a_full_disk_fails_with_one_line_and_keeps_what_was_stored(
        tmp_path, media, run_pipeline):
    second = speech_video(tmp_path / "bees.mp4", OTHER)
    with small_disk(tmp_path / "data", 40) as root:
        data = DataPaths(root)
        first = run_pipeline(str(media.root / "talk.mp4"), root, "--chunk-words", "40")
        assert first.code == 0, first.output
        before = digests(root)
        filler = fill(root, leave_kb=256)

        failed = run_pipeline(str(second), root, "--chunk-words", "40")
        assert failed.code != 0
        error = failed.line("error")
        assert error.startswith("no space left on the disk of ") and "SCRIBEFLOW_DATA" in error
        assert "Traceback" not in error and "\n" not in error
        summaries = [json.loads(p.read_text()) for p in (root / "runs").glob("*/summary.json")]
        failures = [s["error"] for s in summaries if s.get("status") == "failed"]
        assert [f["kind"] for f in failures] == ["disk_full"]
        assert failures[0]["step"] == "download"
        after = digests(root, exclude=("filler.bin",))
        assert {k: after.get(k) for k in before} == before  # every earlier file intact
        assert _leftovers(root) == []
        assert not data.downloads.exists() or not any(data.downloads.iterdir())

        os.unlink(filler)  # room again: the same video goes through
        again = run_pipeline(str(second), root, "--chunk-words", "40")
        assert again.code == 0, again.output
        assert again.line("status") == "success"
        store = ParquetStore(data.parquet_store)
        assert store.count(again.line("video id")) > 0
        assert store.count(first.line("video id")) == int(first.line("stored rows"))


def test_a_full_disk_reads_as_one_line_however_it_is_reported(tmp_path):
    assert no_space(OSError(28, "No space left on device"))
    assert no_space("av_interleaved_write_frame(): No space left on device")
    wrapped = RuntimeError("write failed")
    wrapped.__cause__ = OSError(122, "Disk quota exceeded")
    assert no_space(wrapped) and not no_space(OSError(2, "No such file or directory"))
    error = storage_full(tmp_path / "not" / "yet", "transcribe wrote transcript.json")
    assert isinstance(error, StorageFullError)
    assert f"the disk of {tmp_path} (" in str(error) and "MB free" in str(error)
