"""Every benchmark runs in --quick mode and prints its figures (no timing is asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
EXPECTED = {
    "transcribe_overhead": "ratio_step_over_bare",
    "llm_stages": "ratio_best_over_ideal",
    "embed_throughput": "ratio_product_over_bare",
    "store_bench": "P6",
    "pipeline_overhead": "ratio_pipeline_over_bare",
    "mapped_task_overhead": "overhead_per_mapped_instance_s",
}


@pytest.mark.e2e
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_benchmark_quick_run_reports(name):
    proc = subprocess.run([sys.executable, str(BENCH / f"{name}.py"), "--quick"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    figures = json.loads(proc.stdout[proc.stdout.index("{"):])
    assert EXPECTED[name] in figures
