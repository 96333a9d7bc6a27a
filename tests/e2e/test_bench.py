"""`make bench --quick` once per suite run, so the benchmark script never rots (its figures are not asserted)."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]


def test_bench_quick_prints_the_table(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "DATABASE_", "SMTP_"))}
    env["RENEWALS_VAR"] = str(tmp_path / "var")
    result = subprocess.run(
        [sys.executable, "-m", "bench.run", "--quick"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=110
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for figure in (
        "real lifecycles/s",
        "no-op lifecycles/s",
        "accept+pay p50 / p95 / p99",
        "history events",
        "subscriptions/s",
        "worker process RSS",
    ):
        assert figure in result.stdout
