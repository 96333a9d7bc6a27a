"""R20: the worker SIGKILLed in the middle of the payment saga (between reserve and charge, charge and
renew, renew and paid), while 20 quotes are paid and auto-renewals are due. The local steps of the workflow
task it was running are lost from the quote's history while the calendar, the store and the provider keep
theirs; a new worker takes over and every quote still ends paid, charged once, renewed once."""

import asyncio
import contextlib
import signal
import subprocess
import sys
import uuid
from datetime import date

import pytest
from temporalio.testing import WorkflowEnvironment

from domain.quotes import QuoteState
from tests.faults.scene import Scene
from tests.helpers import BIN, quote_stack, worker_env

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.mark.timeout(600)
@pytest.mark.parametrize("after", ["reserve_terms", "take_payment", "renew_terms"])
async def test_r20_worker_killed_mid_payment_a_new_worker_finishes_every_quote_paid_once(
    dev_env: WorkflowEnvironment, pool, settings, gateway, tmp_path, after: str
) -> None:
    env = worker_env(dev_env.client, settings, tmp_path / "var")
    marker = tmp_path / "killed"
    killable = subprocess.Popen(
        [sys.executable, "-m", "tests.faults.killable_worker", after, str(marker)],
        env=env,
        stdout=(tmp_path / "killable.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    replacement = None
    try:
        await polled(dev_env, settings.temporal_task_queue)
        async with quote_stack(dev_env, pool, settings, worker=contextlib.nullcontext(), gateway=gateway) as quotes:
            scene = Scene(dev_env, pool, settings, quotes, gateway)
            try:
                await scene.prepare(date.today(), uuid.uuid4().hex[:4])
                await scene.start_auto_renewals()
                paying = asyncio.create_task(scene.pay_all(await scene.tokens()))
                assert await asyncio.to_thread(killable.wait, 120) == -signal.SIGKILL
                assert marker.exists(), (tmp_path / "killable.log").read_text()
                replacement = subprocess.Popen(
                    [str(BIN / "renewals"), "worker"],
                    env=env,
                    stdout=(tmp_path / "worker.log").open("wb"),
                    stderr=subprocess.STDOUT,
                )
                answers = await paying
                assert not [a for a in answers if isinstance(a, BaseException)], answers
                assert {a.state for a in answers} <= {QuoteState.ACCEPTED, QuoteState.PAID}
                await scene.settled(calendars=True)
            finally:
                await scene.end()
    finally:
        for proc in (killable, replacement):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(30)


async def polled(env: WorkflowEnvironment, task_queue: str, seconds: float = 120) -> None:
    """Until the worker process polls its task queue: an update sent before any worker was ever seen there
    is refused at once ("no poller seen"), and a loaded machine takes a while to start a worker."""
    from temporalio.api.enums.v1 import TaskQueueType
    from temporalio.api.taskqueue.v1 import TaskQueue
    from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

    request = DescribeTaskQueueRequest(
        namespace=env.client.namespace,
        task_queue=TaskQueue(name=task_queue),
        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    )
    for _ in range(int(seconds / 0.2)):
        if (await env.client.workflow_service.describe_task_queue(request)).pollers:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"no worker polled {task_queue} in {seconds} s")
