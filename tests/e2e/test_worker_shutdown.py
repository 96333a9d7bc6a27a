"""SIGTERM: a real `renewals worker` stops polling and lets the email it is sending finish; metrics served."""

import asyncio
import os
import signal
import subprocess
import urllib.request
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from temporalio.testing import WorkflowEnvironment

from tests.helpers import BIN, free_port, quote_stack, request, scalar
from workers.smtp_sink import MailDirHandler

pytestmark = pytest.mark.asyncio(loop_scope="session")


class SlowMailbox(MailDirHandler):
    async def handle_DATA(self, server, session, envelope) -> str:
        await asyncio.sleep(1.5)
        return await super().handle_DATA(server, session, envelope)


async def test_sigterm_lets_in_flight_email_finish(dev_env: WorkflowEnvironment, pool, settings, tmp_path) -> None:
    port, metrics = free_port(), free_port()
    slow = Controller(SlowMailbox(tmp_path / "slow"), hostname="127.0.0.1", port=port)
    slow.start()
    settings = settings.model_copy(update={"smtp_port": port})
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"} | {
        "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "TEMPORAL_TASK_QUEUE": settings.temporal_task_queue,
        "DATABASE_URL": settings.require_database_url(),
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(port),
        "BUYER_LINK_SECRET": settings.require_link_secrets()[0],
        "RENEWALS_VAR": str(tmp_path / "var"),
        "WORKER_SHUTDOWN_GRACE": "10",
        "METRICS_PORT": str(metrics),
    }
    worker = subprocess.Popen(
        [str(BIN / "renewals"), "worker"],
        env=env,
        stdout=(tmp_path / "worker.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        async with quote_stack(dev_env, pool, settings, worker=_NoWorker()) as quotes:
            quote = await quotes.create(request("SUB-1001"), send=True)
            for _ in range(100):
                if (
                    await scalar(pool, "SELECT status FROM sent_mail WHERE quote_number = %s", quote.number)
                    == "sending"
                ):
                    break
                await asyncio.sleep(0.1)
            body = await asyncio.to_thread(lambda: urllib.request.urlopen(f"http://127.0.0.1:{metrics}/metrics").read())
            assert b"temporal_" in body
            worker.send_signal(signal.SIGTERM)
            assert await asyncio.to_thread(worker.wait, 15) == 0
            assert await scalar(pool, "SELECT status FROM sent_mail WHERE quote_number = %s", quote.number) == "sent"
            assert len(list(Path(tmp_path / "slow").glob("*.eml"))) == 1
            await dev_env.client.get_workflow_handle(f"quote-{quote.number}").terminate("test finished")
        log = (tmp_path / "worker.log").read_text()
        assert "stopping: no new tasks" in log and "quote=" in log and "'workflow_id': 'quote-" in log
    finally:
        if worker.poll() is None:
            worker.kill()
        slow.stop()


class _NoWorker:
    """The worker under test is the subprocess; the stack helper needs no worker of its own."""

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        return False
