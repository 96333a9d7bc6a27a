"""SIGTERM: a real `renewals worker` stops polling and lets the email it is sending finish; metrics served."""

import asyncio
import signal
import subprocess
import threading
import urllib.request
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from temporalio.api.enums.v1 import EventType, PendingActivityState
from temporalio.testing import WorkflowEnvironment

from tests.helpers import BIN, free_port, quote_stack, request, scalar, until, worker_env
from workers.smtp_sink import MailDirHandler

pytestmark = pytest.mark.asyncio(loop_scope="session")


class HeldMailbox(MailDirHandler):
    """A mail server that holds its answer to DATA until the test releases it: the email is in flight for
    as long as the test wants. Counts every DATA it answers (the folder keeps one file per Message-ID)."""

    def __init__(self, folder: Path) -> None:
        super().__init__(folder)
        self.arrived = threading.Event()
        self.released = threading.Event()
        self.delivered = 0

    async def handle_DATA(self, server, session, envelope) -> str:
        self.arrived.set()
        while not self.released.is_set():
            await asyncio.sleep(0.02)
        self.delivered += 1
        return await super().handle_DATA(server, session, envelope)


async def test_r20_sigterm_waits_for_the_email_in_flight_which_is_delivered_once(
    dev_env: WorkflowEnvironment, pool, settings, tmp_path
) -> None:
    port, metrics = free_port(), free_port()
    held = HeldMailbox(tmp_path / "held")
    smtp = Controller(held, hostname="127.0.0.1", port=port)
    smtp.start()
    settings = settings.model_copy(update={"smtp_port": port})
    env = worker_env(dev_env.client, settings, tmp_path / "var") | {
        "WORKER_SHUTDOWN_GRACE": "10",
        "METRICS_PORT": str(metrics),
        "LOG_LEVEL": "INFO",
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
            handle = dev_env.client.get_workflow_handle(f"quote-{quote.number}")
            # The email is in flight: the mail server has its DATA, and Temporal has the activity started.
            assert await asyncio.to_thread(held.arrived.wait, 30), "the email never reached the mail server"

            async def sending() -> list:
                pending = (await handle.describe()).raw_description.pending_activities
                return [
                    a
                    for a in pending
                    if a.activity_type.name == "send_quote_emails"
                    and a.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
                ]

            (in_flight,) = await until(sending, "send_quote_emails started")
            assert in_flight.attempt == 1
            status = "SELECT status FROM sent_mail WHERE quote_number = %s"
            assert await scalar(pool, status, quote.number) == "sending"
            body = await asyncio.to_thread(lambda: urllib.request.urlopen(f"http://127.0.0.1:{metrics}/metrics").read())
            assert b"temporal_" in body

            worker.send_signal(signal.SIGTERM)
            await asyncio.sleep(1.5)
            # The worker waits for the email, which is still held at the mail server.
            assert worker.poll() is None and held.delivered == 0
            assert "stopping: no new tasks" in (tmp_path / "worker.log").read_text()
            held.released.set()
            assert await asyncio.to_thread(worker.wait, 15) == 0

            # The stopped worker finished the activity and told Temporal so: first attempt, completed.
            assert await scalar(pool, status, quote.number) == "sent"
            assert held.delivered == 1 and len(list((tmp_path / "held").glob("*.eml"))) == 1
            assert not (await handle.describe()).raw_description.pending_activities
            events = [e async for e in handle.fetch_history_events()]
            scheduled = [
                e.event_id
                for e in events
                if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
                and e.activity_task_scheduled_event_attributes.activity_type.name == "send_quote_emails"
            ]
            started = [
                e.activity_task_started_event_attributes
                for e in events
                if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
                and e.activity_task_started_event_attributes.scheduled_event_id in scheduled
            ]
            completed = [
                e
                for e in events
                if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
                and e.activity_task_completed_event_attributes.scheduled_event_id in scheduled
            ]
            assert len(scheduled) == 1 and [s.attempt for s in started] == [1] and len(completed) == 1
            await handle.terminate("test finished")
        log = (tmp_path / "worker.log").read_text()
        assert "quote=" in log and f" INFO quote-{quote.number} " in log and "stopped" in log
    finally:
        held.released.set()
        if worker.poll() is None:
            worker.kill()
        smtp.stop()


class _NoWorker:
    """The worker under test is the subprocess; the stack helper needs no worker of its own."""

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        return False
