"""`make bench --quick` once per suite run, so the benchmark script never rots (its timings are not asserted; that a
GET makes no Temporal call is)."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]


def test_bench_quick_prints_the_table(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "DATABASE_", "SMTP_"))}
    env["RENEWALS_VAR"] = str(tmp_path / "var")
    result = subprocess.run(
        [sys.executable, "-m", "bench.run", "--quick"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=240
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for figure in (
        "buyers paid / arrived",
        "quote page GET p50 / p99",
        "accept+pay POST p50 / p99",
        "CPU per paid lifecycle: worker + temporal + postgres + web",
        "no-op of the same shape",
        "history events per paid quote",
        "worker CPU per auto quote",
        "subscriptions/s",
        "worker process RSS",
    ):
        assert figure in result.stdout
    # Pages and the API's reads come from the store: the web process's own /metrics counts no Temporal call.
    (calls,) = [line for line in result.stdout.splitlines() if "Temporal calls per GET" in line]
    assert " 0.00 (" in calls, calls
