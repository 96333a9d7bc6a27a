"""A calendar continues as new while updates keep arriving: none is lost across the switch.

The dev server is started with a low `limit.historyCount.suggestContinueAsNew`, so the switch
happens many times within a few dozen updates.
"""

import asyncio
import uuid
from datetime import date

import pytest
import pytest_asyncio
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from activities.calendar_handles import start_calendar
from contracts.subscription import AttachInput, DetachInput
from domain.quotes import subscription_workflow_id
from runtime.temporal import build_worker
from store.loader import load
from tests.helpers import BIN
from workers.demo_data import demo_data
from workflows.subscription import SubscriptionWorkflow

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest_asyncio.fixture
async def short_history_env():
    async with await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(BIN / "temporal"),
        data_converter=pydantic_data_converter,
        dev_server_extra_args=["--dynamic-config-value", "limit.historyCount.suggestContinueAsNew=25"],
        dev_server_log_level="warn",
        ui=False,
    ) as env:
        yield env


async def test_continue_as_new_under_concurrent_updates_loses_nothing(short_history_env, pool, settings) -> None:
    client = short_history_env.client
    data = demo_data(date.today())
    async with pool.connection() as conn:
        await load(conn, data)
    sub = next(s for s in data.subscriptions if s.id == "SUB-1001")
    async with build_worker(client, pool, settings):
        handle = await start_calendar(client, sub, 0, settings.temporal_task_queue)
        first_run = (await handle.describe()).run_id
        numbers = [f"Q-{uuid.uuid4().hex[:6]}" for _ in range(40)]
        typed = client.get_workflow_handle_for(SubscriptionWorkflow.run, subscription_workflow_id(sub.id))
        await asyncio.gather(
            *(
                typed.execute_update(SubscriptionWorkflow.attach, AttachInput(quote_number=n, hold=i % 2 == 0))
                for i, n in enumerate(numbers)
            )
        )
        await asyncio.gather(
            *(typed.execute_update(SubscriptionWorkflow.detach, DetachInput(quote_number=n)) for n in numbers[:30])
        )
        state = await typed.query(SubscriptionWorkflow.state)
        last_run = (await handle.describe()).run_id
        await handle.terminate("test finished")
    assert sorted(state.pending) == sorted(numbers[30:])
    assert sorted(state.held_by) == sorted(n for i, n in enumerate(numbers) if i >= 30 and i % 2 == 0)
    assert state.auto_renew is False
    assert last_run != first_run
