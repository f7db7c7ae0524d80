"""The images install requirements.txt and nothing else. A clean virtualenv with only that
file must import every module of the product and parse every DAG: a module that arrives
only with the dev tools (as rapidfuzz once did) would fail the image's tasks."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from support.airflow import clean_env

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]

CHECK = textwrap.dedent("""
    import ast, importlib, pathlib, sys
    plugins, dags = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    names = sorted(
        ".".join(p.relative_to(plugins).with_suffix("").parts).removesuffix(".__init__")
        for p in plugins.rglob("*.py") if ".egg-info" not in str(p))
    for name in names:
        importlib.import_module(name)
    # heavy modules are imported inside the functions that use them: import every module
    # any import statement names, wherever it stands
    named = set()
    for path in [*plugins.rglob("*.py"), *dags.rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                named |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                named.add(node.module)
    for name in sorted(named):
        importlib.import_module(name)
    from airflow.dag_processing.dagbag import DagBag
    bag = DagBag(dag_folder=str(dags))
    assert not bag.import_errors, bag.import_errors
    print("modules", len(names), "imports", len(named), "dags", " ".join(sorted(bag.dag_ids)))
""")


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


def test_requirements_alone_import_every_module_and_parse_every_dag(tmp_path):
    venv = requirements_venv()
    listed = subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"),
                             "list", "--format", "freeze"], capture_output=True, text=True)
    assert "apache-airflow==" in listed.stdout and "pytest==" not in listed.stdout, listed
    env = clean_env(
        AIRFLOW_HOME=str(tmp_path / "home"), PYTHONPATH=str(ROOT / "plugins"),
        AIRFLOW__CORE__DAGS_FOLDER=str(ROOT / "dags"),
        AIRFLOW__CORE__PLUGINS_FOLDER=str(ROOT / "plugins"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{tmp_path}/home/airflow.db",
    )
    env.pop("VIRTUAL_ENV", None)
    env["PATH"] = os.pathsep.join([str(venv / "bin"), env.get("PATH", "")])
    checked = subprocess.run([str(venv / "bin" / "python"), "-c", CHECK, str(ROOT / "plugins"),
                              str(ROOT / "dags")], env=env, capture_output=True, text=True,
                             timeout=600, cwd=tmp_path)
    assert checked.returncode == 0, (checked.stdout + checked.stderr)[-4000:]
    summary = checked.stdout.strip().splitlines()[-1].split()
    assert int(summary[1]) >= 40 and int(summary[3]) >= 100 and "video_pipeline" in summary, summary
