"""R20: the Temporal server restarted while 20 quotes are paid and auto-renewals are due. The worker and the
callers reconnect; a buyer whose call broke off pays again and is never charged twice."""

import asyncio
import subprocess
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from contracts.search_attributes import dev_server_flags
from domain.errors import Refused
from domain.quotes import QuoteState
from tests.faults.scene import GOOD, Scene
from tests.helpers import BIN, free_port, quote_stack

pytestmark = pytest.mark.asyncio(loop_scope="session")


class OwnServer:
    """`temporal server start-dev` on a db file of the test's, so a restart keeps every workflow."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.port = folder, free_port()
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        args = [str(BIN / "temporal"), "server", "start-dev", "--headless", "--log-level", "warn"]
        args += ["--db-filename", str(self.folder / "temporal.db"), "--port", str(self.port), *dev_server_flags()]
        log = (self.folder / "temporal.log").open("ab")
        self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(30)

    async def client(self) -> Client:
        for _ in range(240):
            try:
                client = await Client.connect(f"127.0.0.1:{self.port}", data_converter=pydantic_data_converter)
                await client.workflow_service.get_system_info(GetSystemInfoRequest())
                return client
            except Exception:
                await asyncio.sleep(0.25)
        raise AssertionError((self.folder / "temporal.log").read_text())


class Env:
    """What quote_stack needs of a WorkflowEnvironment."""

    def __init__(self, client: Client) -> None:
        self.client = client

    async def get_current_time(self) -> datetime:
        return datetime.now(UTC)


@pytest.mark.timeout(600)
async def test_r20_the_temporal_server_restarted_mid_payment_every_quote_ends_paid_once(
    pool, settings, gateway, tmp_path
) -> None:
    server = OwnServer(tmp_path)
    server.start()
    try:
        env = Env(await server.client())
        async with quote_stack(env, pool, settings, gateway=gateway) as quotes:  # type: ignore[arg-type]
            scene = Scene(env, pool, settings, quotes, gateway)  # type: ignore[arg-type]
            try:
                await scene.prepare(date.today(), uuid.uuid4().hex[:4])
                await scene.start_auto_renewals()
                paying = asyncio.create_task(scene.pay_all(await scene.tokens()))
                await asyncio.to_thread(server.stop)
                server.start()
                await server.client()
                await paying  # some callers hear the connection broke
                for number in scene.numbers:  # those buyers pay again
                    shown = await quotes.show(number)
                    if shown.state is not QuoteState.PAID and shown.payment is None:
                        try:
                            await quotes.accept(number, pay=True, payment_method=await gateway.tokenize(GOOD))
                        except Refused:
                            pass
                await scene.settled(calendars=True)
            finally:
                await scene.end()
    finally:
        server.stop()
