"""R24 retention on the Temporal dev server (which runs schedules): a worker makes the retention schedule once,
and each run deletes the sign-in links and sessions that stopped working over a day ago, keeping the rest."""

import pytest
from temporalio.testing import WorkflowEnvironment

from contracts import retention
from runtime.schedules import ensure_retention_schedule
from tests.helpers import quote_stack, rows, until
from tests.workflows.test_account import stale_sign_ins_and_sessions

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_r24_the_retention_schedule_deletes_sign_ins_and_sessions_a_day_after_they_stopped_working(
    dev_env: WorkflowEnvironment, pool, settings
) -> None:
    async with quote_stack(dev_env, pool, settings):
        await stale_sign_ins_and_sessions(pool)
        queue = settings.temporal_task_queue
        made = await ensure_retention_schedule(dev_env.client, queue)
        again = await ensure_retention_schedule(dev_env.client, queue)
        schedule = dev_env.client.get_schedule_handle(retention.schedule_id(queue))
        try:
            described = await schedule.describe()
            await schedule.trigger()

            async def purged():
                left = {r["id"] for r in await rows(pool, "SELECT id FROM account_sign_ins")}
                return left if "old" not in left else None

            kept = await until(purged, "the retention run", tries=400)
            sessions = {r["id_hash"] for r in await rows(pool, "SELECT id_hash FROM account_sessions")}
        finally:
            await schedule.delete()
    assert (made, again) == (True, False)
    assert described.schedule.spec.intervals[0].every == retention.EVERY
    assert kept == {"recent"} and sessions == {"open"}
