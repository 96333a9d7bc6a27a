"""`renewals ops stuck` on the dev server: finds the quote whose email activity fails while SMTP is down."""

import asyncio
import json

import pytest
from temporalio.testing import WorkflowEnvironment

from domain.quotes import quote_workflow_id
from starters.ops import find_stuck
from tests.conftest import free_port, renewals
from tests.quotes_helpers import quote_stack, request

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_ops_stuck_finds_email_retrying_while_smtp_is_down(dev_env: WorkflowEnvironment, pool, settings,
                                                                 cli_env) -> None:
    down = settings.model_copy(update={"smtp_port": free_port()})
    async with quote_stack(dev_env, pool, down) as quotes:
        quote = await quotes.create(request("SUB-1001"), send=True)
        draft = await quotes.create(request("SUB-1003"))
        handle = dev_env.client.get_workflow_handle(quote_workflow_id(quote.number))
        for _ in range(150):
            pending = (await handle.describe()).raw_description.pending_activities
            if pending and pending[0].attempt >= 2:
                break
            await asyncio.sleep(0.1)
        found = {}
        for _ in range(50):
            found = {s.workflow_id: s for s in await find_stuck(dev_env.client, days=0) if s.attempt}
            if handle.id in found:
                break
            await asyncio.sleep(0.2)
        stuck = found[handle.id]
        assert (stuck.reason, stuck.detail, stuck.state) == ("activity retrying", "send_quote_email", "sent")
        assert stuck.attempt >= 2 and "refused" in stuck.last_failure.lower()

        shell = cli_env | {"TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
                            "DATABASE_URL": settings.database_url}
        listed = await asyncio.to_thread(renewals, "ops", "stuck", "--days", "31", "--json", env=shell)
        rows = json.loads(listed.stdout)
        reasons = {(r["workflow_id"], r["reason"]) for r in rows}
        assert (handle.id, "activity retrying") in reasons
        assert (handle.id, "sent, expires within 31 day(s), no action") in reasons
        assert (quote_workflow_id(draft.number), "draft older than 31 day(s)") not in reasons
        table = await asyncio.to_thread(renewals, "ops", "stuck", env=shell)
        assert "send_quote_email (attempt" in table.stdout
        await handle.terminate("test finished")
