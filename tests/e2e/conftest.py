"""The embedded stack as a user runs it, shared by the end-to-end tests that start `renewals dev`."""

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import DevProcess


@pytest.fixture
def dev(cli_env: dict[str, str], tmp_path: Path) -> Iterator[DevProcess]:
    """`renewals dev` on free ports and its own var/, with its own webhook receiver; killed if left running."""
    env = {k: v for k, v in cli_env.items() if not k.startswith("WEBHOOK_")}
    dev = DevProcess(env, tmp_path / "dev.log")
    yield dev
    if getattr(dev, "process", None) and dev.process.poll() is None:
        os.killpg(dev.process.pid, signal.SIGKILL)
