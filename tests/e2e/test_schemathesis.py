"""Schemathesis over the whole API (/api/v1/openapi.json) with every check: the real app on the real store
and the Temporal dev server (visibility, so /audit answers too), a write key. No answer is a 5xx, every
status is one the document declares, every body and header is as documented, a request without the key is
refused. Bounded: a few examples per operation, so `make test` stays short."""

import asyncio
import re
import shutil
import sys
import time
from pathlib import Path

import pytest
import uvicorn
from temporalio.testing import WorkflowEnvironment

from domain.links import LinkSigner
from runtime.app import open_app
from runtime.settings import parse_api_keys
from tests.helpers import free_port, quote_stack
from web.api import RateLimit, create_api
from web.app import create_app

pytestmark = pytest.mark.asyncio(loop_scope="session")
KEY = "rk_schemathesis"
EXAMPLES = 8  # per operation and phase
# A valid-looking request may still be refused by a rule (409), name an unknown quote, customer or
# subscription (404), or break a rule no schema says (422 from the domain, e.g. a start date in the past).
CONFIG = """
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "401", "403", "404", "409", "422"]
"""


async def test_schemathesis_finds_no_server_error_and_no_undocumented_status(
    dev_env: WorkflowEnvironment, pool, settings, gateway, tmp_path: Path
) -> None:
    port = free_port()
    async with quote_stack(dev_env, pool, settings, gateway=gateway):
        async with open_app(settings, pool=pool, client=dev_env.client) as app:
            web = create_app(
                lambda: app.quotes,
                LinkSigner(settings.require_link_secrets()),
                lambda: gateway,
                # Its own rate limit is for the unit tests: here every generated request gets through.
                api=create_api(lambda: app, parse_api_keys(f"fuzz:{KEY}:write"), RateLimit(10**6, 10**6)),
            )
            server = uvicorn.Server(uvicorn.Config(web, host="127.0.0.1", port=port, lifespan="off", log_level="error"))
            serving = asyncio.create_task(server.serve())
            (tmp_path / "schemathesis.toml").write_text(CONFIG)
            started = time.monotonic()
            try:
                while not server.started:
                    await asyncio.sleep(0.02)
                exe = shutil.which("schemathesis", path=str(Path(sys.executable).parent)) or "schemathesis"
                run = await asyncio.create_subprocess_exec(
                    exe,
                    "--config-file",
                    str(tmp_path / "schemathesis.toml"),
                    "run",
                    f"http://127.0.0.1:{port}/api/v1/openapi.json",
                    "--header",
                    f"Authorization: Bearer {KEY}",
                    "--checks",
                    "all",
                    "--phases",
                    "examples,coverage,fuzzing",
                    "--max-examples",
                    str(EXAMPLES),
                    "--seed",
                    "23",
                    "--no-shrink",
                    "--workers",
                    "1",
                    "--report",
                    "har",
                    "--report-dir",
                    str(tmp_path / "report"),
                    "--request-timeout",
                    "30",
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.STDOUT,
                    cwd=tmp_path,
                )
                output, _ = await asyncio.wait_for(run.communicate(), 240)
            finally:
                server.should_exit = True
                await serving
    report = output.decode()
    (tmp_path / "schemathesis.txt").write_text(report)
    print(f"schemathesis: {time.monotonic() - started:.1f} s\n{report[-4000:]}")
    assert run.returncode == 0, report[-8000:]
    operations = re.search(r"Operations:\s+(\d+) selected / (\d+) total", report)
    assert operations and operations.group(1) == operations.group(2), report[-3000:]  # the whole API
    assert re.search(r"(\d+) generated, \1 passed", report), report[-3000:]
