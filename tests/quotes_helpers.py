"""What the quote tests share: a stack on a Temporal test server, demo data, and short-hands."""

from contextlib import asynccontextmanager
from datetime import date, timedelta
from typing import AsyncIterator

from psycopg_pool import AsyncConnectionPool
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from domain.quote_rules import QuoteRequest
from domain.quotes import quote_workflow_id, subscription_workflow_id
from starters.quotes import QuoteService
from store.loader import load
from workers.demo_data import ACME, demo_data
from workers.settings import Settings
from workers.temporal import build_worker


@asynccontextmanager
async def quote_stack(
    env: WorkflowEnvironment, pool: AsyncConnectionPool, settings: Settings, worker=None
) -> AsyncIterator[QuoteService]:
    """Demo data dated from the server's clock, a worker on a fresh task queue, the service the CLI uses."""
    client = env.client
    today = (await env.get_current_time()).date()
    data = demo_data(today)
    async with pool.connection() as conn:
        await load(conn, data)
    try:
        async with worker or build_worker(client, pool, settings):
            yield QuoteService(client, pool, settings, today=today)
    finally:
        async with pool.connection() as conn:
            cur = await conn.execute("SELECT number FROM quotes")
            numbers = [row["number"] for row in await cur.fetchall()]
        await end_workflows(
            client,
            [quote_workflow_id(n) for n in numbers] + [subscription_workflow_id(s.id) for s in data.subscriptions],
        )


async def end_workflows(client: Client, workflow_ids: list[str]) -> None:
    """Tests share one Temporal server: what a test leaves running would hold up the next one's clock."""
    from temporalio.service import RPCError

    for workflow_id in workflow_ids:
        try:
            await client.get_workflow_handle(workflow_id).terminate("test finished")
        except RPCError:
            pass


def request(*subscriptions: str, csn: str = ACME, **fields) -> QuoteRequest:
    return QuoteRequest(csn=csn, subscription_ids=list(subscriptions), **fields)


async def subscription_row(pool: AsyncConnectionPool, sub_id: str) -> dict:
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT * FROM subscriptions WHERE id = %s", (sub_id,))
        row = await cur.fetchone()
        cur = await conn.execute(
            "SELECT quote_number FROM auto_renew_holds WHERE subscription_id = %s ORDER BY 1", (sub_id,)
        )
        row["held_by"] = [r["quote_number"] for r in await cur.fetchall()]
        return row


async def scalar(pool: AsyncConnectionPool, query: str, *params):
    async with pool.connection() as conn:
        cur = await conn.execute(query, params)
        row = await cur.fetchone()
        return next(iter(row.values())) if row else None


DAY = timedelta(days=1)


async def quote_result(client: Client, number: str):
    from workflows.quote import QuoteWorkflow

    return await client.get_workflow_handle_for(QuoteWorkflow.run, quote_workflow_id(number)).result()
