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
from support.requirements_venv import requirements_venv

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
