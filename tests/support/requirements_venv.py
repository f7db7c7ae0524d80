"""The virtualenv of ``requirements.txt`` alone, which ``tests/deploy/test_requirements_alone.py``
checks: built once per content of the file. ``make test`` builds it before pytest starts
(``python tests/support/requirements_venv.py``), as it installs Chromium for the browser
tests; the test builds it itself when it is missing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def requirements_venv() -> Path:
    """A virtualenv with ``requirements.txt`` alone installed, kept between runs under
    ``~/.cache/scribeflow`` (or ``$XDG_CACHE_HOME``), named by the file's content and the
    Python version: an unchanged file is not installed again, a changed one gets a new venv.
    The venv counts only once ``pip install`` succeeded in it (its ``.complete`` marker); a
    lock keeps two test processes from building the same one."""
    import fcntl
    import hashlib
    import shutil

    key = hashlib.sha256((ROOT / "requirements.txt").read_bytes()
                         + sys.version.encode()).hexdigest()[:16]
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "scribeflow"
    venv = cache / f"requirements-alone-{key}"
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / f"requirements-alone-{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (venv / ".complete").exists():
            return venv
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
        # this environment's pip installs into the new venv; no byte-compiling of the
        # thousands of modules the check never imports
        installed = subprocess.run(
            [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install",
             "-q", "--no-compile", "--disable-pip-version-check", "-r",
             str(ROOT / "requirements.txt")],
            capture_output=True, text=True, timeout=1800)
        assert installed.returncode == 0, installed.stderr[-3000:]
        (venv / ".complete").write_text(key)
    for old in cache.glob("requirements-alone-*"):  # venvs of earlier requirements files
        if old.is_dir() and old != venv:
            shutil.rmtree(old, ignore_errors=True)
    return venv


if __name__ == "__main__":
    print(requirements_venv())
