"""R20: `renewals ops stuck` while a worker is down, when it is most needed."""

import asyncio

import pytest
from temporalio.testing import WorkflowEnvironment

from domain.quotes import quote_workflow_id
from services.ops import stuck_workflows

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_r20_ops_stuck_names_an_accepted_quote_no_worker_answers_for_instead_of_failing(
    dev_env: WorkflowEnvironment,
) -> None:
    """While a worker is down `renewals ops stuck` is most needed: a quote its worker cannot answer for is
    listed as stuck, and every other finding still shows."""
    import uuid

    from temporalio.common import SearchAttributePair, TypedSearchAttributes

    from contracts.search_attributes import QUOTE_STATE

    number = f"Q-9{uuid.uuid4().int % 10**5:05d}"
    await dev_env.client.start_workflow(
        "QuoteWorkflow",
        id=quote_workflow_id(number),
        task_queue=f"nobody-polls-{uuid.uuid4().hex[:8]}",
        search_attributes=TypedSearchAttributes([SearchAttributePair(QUOTE_STATE, "accepted")]),
    )
    try:
        found = []
        for _ in range(50):  # visibility is eventually consistent
            found = [
                s for s in await stuck_workflows(dev_env.client, days=1) if s.workflow_id == quote_workflow_id(number)
            ]
            if found:
                break
            await asyncio.sleep(0.2)
        assert [(s.state, s.reason) for s in found] == [("accepted", "no worker answers")]
        assert found[0].detail  # the server's words: no poller seen, or the query timed out
    finally:
        await dev_env.client.get_workflow_handle(quote_workflow_id(number)).terminate("test over")
