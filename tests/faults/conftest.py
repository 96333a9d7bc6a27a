"""The fault suite (`make test-faults`, which `.ci/run` also runs): each case on real parts with 20 quotes
being paid and 10 auto-renewals due, ending with the audit clean (tests/faults/scene.py)."""

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
import pytest
from psycopg.conninfo import conninfo_to_dict

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items) -> None:
    """Every test in this folder is a fault case (a conftest hook sees the whole session's items)."""
    for item in items:
        if HERE in Path(item.fspath).parents:
            item.add_marker(pytest.mark.faults)


@contextmanager
def postgres_paused(server_url: str) -> Iterator[list[psutil.Process]]:
    """Every process of the embedded PostgreSQL stopped (SIGSTOP) for the block, then continued: a database
    that hangs, not one that refuses (connections wait, queries in flight wait)."""
    host = conninfo_to_dict(server_url).get("host") or ""
    pid_file = Path(host) / "postmaster.pid"
    if not pid_file.exists():
        pytest.skip("PostgreSQL is not the embedded server here (a container): it cannot be paused from the test")
    postmaster = psutil.Process(int(pid_file.read_text().splitlines()[0]))
    processes = [postmaster, *postmaster.children(recursive=True)]
    for proc in processes:
        os.kill(proc.pid, signal.SIGSTOP)
    try:
        yield processes
    finally:
        for proc in reversed(processes):
            try:
                os.kill(proc.pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
