"""R20: PostgreSQL hangs (SIGSTOP) for 90 s while 20 quotes are paid and 10 auto-renewals are due, on the dev
server with the embedded PostgreSQL: every buyer hears back (paid, or payment pending), `ops stuck` shows the
waiting, and after SIGCONT every quote is paid once and every term renewed once."""

import asyncio
import time
import uuid
from datetime import date

import pytest
from temporalio.testing import WorkflowEnvironment

from domain.quotes import QuoteState
from services.ops import OpsService
from tests.faults.conftest import postgres_paused
from tests.faults.scene import Scene
from tests.helpers import quote_stack

pytestmark = pytest.mark.asyncio(loop_scope="session")
PAUSE = 90


@pytest.mark.timeout(900)
async def test_r20_postgres_paused_90_s_while_20_quotes_are_paid_and_10_auto_renewals_due(
    dev_env: WorkflowEnvironment, pool, settings, gateway, postgres_server_url
) -> None:
    async with quote_stack(dev_env, pool, settings, gateway=gateway) as quotes:
        scene = Scene(dev_env, pool, settings, quotes, gateway)
        try:
            await scene.prepare(date.today(), uuid.uuid4().hex[:4])
            tokens = await scene.tokens()
            with postgres_paused(postgres_server_url):
                started = time.monotonic()
                await scene.start_auto_renewals(store=False)
                answers = await scene.pay_all(tokens)
                waiting = await _stuck_while_paused(OpsService(dev_env.client, pool, gateway), scene)
                await asyncio.sleep(max(0, PAUSE - (time.monotonic() - started)))
            assert not [a for a in answers if isinstance(a, BaseException)], answers
            assert {a.state for a in answers} <= {QuoteState.ACCEPTED, QuoteState.PAID}
            assert "the store is not answering" in {s.reason for s in waiting}
            assert any(s.reason == "activity retrying" and s.workflow_id in scene.workflow_ids for s in waiting)
            await scene.settled(calendars=True)
        finally:
            await scene.end()


async def _stuck_while_paused(ops: OpsService, scene: Scene) -> list:
    """`renewals ops stuck` during the pause: the store says it does not answer, Temporal shows the waiting."""
    for _ in range(60):
        found = await ops.stuck(days=30)
        if any(s.reason == "activity retrying" and s.workflow_id in scene.workflow_ids for s in found):
            return found
        await asyncio.sleep(1)
    return found
