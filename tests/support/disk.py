"""A small real disk for full-disk tests: a tmpfs mounted for the test (needs root)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


@contextmanager
def small_disk(path: Path, size_mb: int) -> Iterator[Path]:
    """``path`` as a tmpfs of ``size_mb`` MB for the duration of the block."""
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("mounting a tmpfs needs root")
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(path)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(path: Path, leave_kb: int) -> Path:
    """Fill the disk holding ``path`` with one file, leaving about ``leave_kb`` KB free."""
    filler = path / "filler.bin"
    free = shutil.disk_usage(path).free - leave_kb * 1024
    with open(filler, "wb") as out:
        while free > 0:
            block = min(free, 1 << 20)
            out.write(b"\0" * block)
            free -= block
    return filler


def digests(root: Path, exclude: tuple[str, ...] = ()) -> dict[str, str]:
    """sha256 of every file under ``root`` by relative path (lock files and ``exclude`` left
    out)."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*"))
            if p.is_file() and not p.name.endswith(".lock") and p.name not in exclude}
