"""`renewals ops stuck` on the dev server: finds the quote whose email activity fails while SMTP is down."""

import asyncio
import json

import pytest
from temporalio.testing import WorkflowEnvironment

from domain.quotes import quote_workflow_id
from services.ops import stuck_workflows
from tests.helpers import free_port, quote_stack, renewals, request

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_ops_stuck_finds_email_retrying_while_smtp_is_down(
    dev_env: WorkflowEnvironment, pool, settings, cli_env
) -> None:
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
            found = {s.workflow_id: s for s in await stuck_workflows(dev_env.client, days=0) if s.attempt}
            if handle.id in found:
                break
            await asyncio.sleep(0.2)
        stuck = found[handle.id]
        assert (stuck.reason, stuck.detail, stuck.state) == ("activity retrying", "send_quote_emails", "sent")
        assert stuck.attempt >= 2 and "refused" in stuck.last_failure.lower()

        shell = cli_env | {
            "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
            "DATABASE_URL": settings.require_database_url(),
        }
        listed = await asyncio.to_thread(renewals, "ops", "stuck", "--days", "31", "--json", env=shell)
        rows = json.loads(listed.stdout)
        reasons = {(r["workflow_id"], r["reason"]) for r in rows}
        assert (handle.id, "activity retrying") in reasons
        assert (handle.id, "sent, expires within 31 day(s), no action") in reasons
        assert (quote_workflow_id(draft.number), "draft older than 31 day(s)") not in reasons
        table = await asyncio.to_thread(renewals, "ops", "stuck", env=shell)
        assert "send_quote_emails (attempt" in table.stdout
        await handle.terminate("test finished")


async def test_ops_stuck_shows_a_quote_that_cannot_go_on(dev_env: WorkflowEnvironment, pool, settings) -> None:
    """A business or data failure in an activity is not retried: the quote stops once, says why in its
    current details, and `renewals ops stuck` lists it with the reason."""
    import psycopg.errors
    from temporalio import activity
    from temporalio.client import WorkflowUpdateFailedError
    from temporalio.worker import Worker

    from activities.pricing import PriceQuoteInput, PriceQuoteResult
    from runtime.interceptors import BusinessFailures
    from runtime.temporal import WORKFLOWS, activities, sandbox

    attempts = []

    @activity.defn(name="price_quote")
    async def overflowing_price(input: PriceQuoteInput) -> PriceQuoteResult:
        attempts.append((activity.info().workflow_id, activity.info().attempt))
        raise psycopg.errors.NumericValueOutOfRange("numeric field overflow")

    real = [a for a in activities(dev_env.client, pool, settings) if a.__name__ != "price_quote"]
    worker = Worker(
        dev_env.client,
        task_queue=settings.temporal_task_queue,
        workflows=WORKFLOWS,
        activities=[*real, overflowing_price],
        workflow_runner=sandbox(),
        interceptors=[BusinessFailures()],
    )
    async with quote_stack(dev_env, pool, settings, worker=worker) as quotes:
        with pytest.raises(WorkflowUpdateFailedError) as stopped:
            await quotes.create(request("SUB-1001"))
        assert "cannot go on" in stopped.value.cause.message
        (workflow_id, _), *_ = attempts
        number = workflow_id.removeprefix("quote-")
        handle = dev_env.client.get_workflow_handle(workflow_id)
        details = (await handle.query("__temporal_workflow_metadata")).current_details
        found = {}
        for _ in range(50):
            found = {s.workflow_id: s for s in await stuck_workflows(dev_env.client, days=1)}
            if handle.id in found:
                break
            await asyncio.sleep(0.2)
    assert [attempt for _, attempt in attempts] == [1]
    assert f"{number} · draft" in details and "stopped: " in details
    assert "NumericValueOutOfRange: numeric field overflow" in details
    stuck = found[handle.id]
    assert stuck.reason == "stopped: cannot go on"
    assert "NumericValueOutOfRange: numeric field overflow" in stuck.detail
