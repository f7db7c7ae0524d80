"""The Airflow that ``scribeflow`` commands run: its environment on the embedded defaults
(SQLite and the LocalExecutor under the project), its binary, and its metadata database,
migrated whenever its schema is not this Airflow's."""

from __future__ import annotations

import contextlib
import functools
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from scribeflow.core.config import PROJECT_ROOT, is_url
from scribeflow.core.errors import ScribeflowError

#: How long the scheduler sleeps after a loop with nothing to do (Airflow's default: 1 s). A
#: run's tasks each wait for a loop to be scheduled: at 0.2 s a clip's trigger → success
#: through the scheduler took 9.75 s against 11.44 s (P14, bench/per_video_overhead.py).
SCHEDULER_IDLE_SLEEP_S = "0.2"


def airflow_env(data_dir: Path | None = None,
                environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The embedded defaults (SQLite + LocalExecutor under the project); set values win, in
    ``environ`` (this process's environment when not given)."""
    env = dict(os.environ if environ is None else environ)
    home = Path(env.get("AIRFLOW_HOME") or PROJECT_ROOT / ".airflow")
    defaults = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": SCHEDULER_IDLE_SLEEP_S,
        # wait up to 30 s for SQLite's write lock (its default, 5 s, is too short for a CLI
        # command such as `airflow backfill create` beside a busy scheduler)
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db?timeout=30",
    }
    for key, value in defaults.items():
        env.setdefault(key, value)
    plugins = str(PROJECT_ROOT / "plugins")
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join([plugins] + [p for p in paths if p != plugins])
    # `airflow standalone` starts its components as `airflow …` found on PATH.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    if data_dir is not None:
        env["SCRIBEFLOW_DATA"] = (str(data_dir).rstrip("/") if is_url(str(data_dir))
                                  else str(Path(data_dir).resolve()))
    return env


def airflow_bin() -> str:
    candidate = Path(sys.executable).with_name("airflow")
    return str(candidate) if candidate.exists() else "airflow"


def ensure_metadata_db(env: dict[str, str], log_file: Path) -> None:
    """Create or upgrade the metadata database unless it holds this Airflow's schema
    (:func:`metadata_db_current`): an empty or older SQLite file is migrated too."""
    if metadata_db_current(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]):
        return
    Path(env["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
    with open(log_file, "a") as log:
        done = subprocess.run([airflow_bin(), "db", "migrate"], env=env, stdout=log, stderr=log)
    if done.returncode != 0:
        raise ScribeflowError(f"the metadata database could not be migrated "
                              f"(`airflow db migrate` exited {done.returncode}; see {log_file})")


def metadata_db_current(conn: str) -> bool:
    """Whether the SQLite metadata database ``conn`` names is at the newest migration this
    Airflow ships, read from its ``alembic_version`` without writing: a missing file stays
    missing. Other databases are not read here (False: ``airflow db migrate`` is idempotent)."""
    import sqlite3

    if not conn.startswith("sqlite:///"):
        return False
    path = Path(conn.removeprefix("sqlite:///").partition("?")[0])
    if not path.is_file():
        return False
    try:
        with contextlib.closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)) as db:
            found = db.execute("SELECT version_num FROM alembic_version").fetchall()
    except sqlite3.Error:  # an empty file: no alembic_version table
        return False
    return [row[0] for row in found] == [airflow_schema_head()]


@functools.cache
def airflow_schema_head() -> str:
    """The revision of the newest migration of the installed Airflow (its files are numbered
    in order), found without importing Airflow (1.5 s)."""
    import importlib.util
    import re

    package = Path(importlib.util.find_spec("airflow").submodule_search_locations[0])
    newest = max((package / "migrations" / "versions").glob("[0-9][0-9][0-9][0-9]_*.py"))
    return re.search(r'^revision = "(\w+)"', newest.read_text(), re.MULTILINE)[1]
