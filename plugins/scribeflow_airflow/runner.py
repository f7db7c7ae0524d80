"""Run ``video_pipeline`` once, in this process, with ``dag.test()`` (``scribeflow run``).

Usage: ``python -m scribeflow_airflow.runner --conf JSON --result PATH``. Writes
``{"run_id": ..., "state": ...}`` to PATH. The Airflow environment (``AIRFLOW_HOME``, the
metadata database, the DAGs folder) must be set before this module is started, because
Airflow reads its configuration when it is first imported.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scribeflow_airflow.runner")
    parser.add_argument("--conf", required=True, help="the run's params as JSON")
    parser.add_argument("--result", required=True, type=Path)
    parser.add_argument("--dag-id", default="video_pipeline")
    args = parser.parse_args(argv)

    from airflow.utils.cli import get_bagged_dag

    dag = get_bagged_dag(bundle_names=None, dag_id=args.dag_id)
    run = dag.test(run_conf=json.loads(args.conf))
    state = str(getattr(run.state, "value", run.state))
    args.result.parent.mkdir(parents=True, exist_ok=True)
    args.result.write_text(json.dumps({"run_id": run.run_id, "state": state}))
    return 0 if state == "success" else 1


if __name__ == "__main__":
    sys.exit(main())
