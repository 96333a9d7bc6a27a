"""Starting and informing subscription calendars (SubscriptionWorkflow, id subscription-<id>)."""

from psycopg_pool import AsyncConnectionPool
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError

from domain.errors import BadInput, Refused
from domain.models import Subscription
from domain.quotes import subscription_workflow_id
from starters.refusals import refusal_of
from domain.eligibility import window_closes
from store.calendars import calendars_to_tell, mark_told, subscription_row
from store.catalog import from_row
from store.quotes import sync_auto_renew
from workflows.subscription import SetAutoRenewInput, SubscriptionInput, SubscriptionWorkflow, SyncInput


async def start_calendar(client: Client, sub: Subscription, version: int, task_queue: str,
                         tell: bool = False) -> WorkflowHandle:
    """Start the subscription's calendar, or find the one running: never two. With `tell`, the calendar
    (new or running) is also sent the stored row, in the same call."""
    signal = {"start_signal": "source_changed", "start_signal_args": [SyncInput(subscription=sub)]} if tell else {}
    return await client.start_workflow(
        SubscriptionWorkflow.run,
        SubscriptionInput(subscription=sub, version=version),
        id=subscription_workflow_id(sub.id),
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        **signal,
        static_summary=f"Subscription {sub.id}: {sub.product}, {sub.seats} seat(s), {sub.term.value}, customer {sub.csn}",
    )


async def ensure_calendar(client: Client, pool: AsyncConnectionPool, subscription_id: str,
                          task_queue: str) -> WorkflowHandle:
    """The subscription's calendar, started if it has none; a lapsed one is never restarted, so the claims
    of its last term are never forgotten."""
    async with pool.connection() as conn:
        row = await subscription_row(conn, subscription_id)
    if row is None:
        raise ApplicationError(f"unknown subscription {subscription_id}", non_retryable=True)
    if row["lapsed_on"] is not None:
        raise ApplicationError(
            f"{subscription_id} lapsed: its renewal window closed on {window_closes(row['lapsed_on']).isoformat()}",
            type="Lapsed", non_retryable=True,
        )
    return await start_calendar(client, from_row(Subscription, row), row["auto_renew_version"], task_queue)


async def sync_calendars(client: Client, pool: AsyncConnectionPool, task_queue: str,
                         subscription_ids: list[str] | None = None) -> int:
    """Tell each calendar what a load changed, starting the ones not yet running (one call each, answered
    by the server: no worker needs to be up): the rows not yet told, so a sync that failed is retried by
    the next load; or, when named, these rows. Returns how many calendars were told."""
    async with pool.connection() as conn:
        rows = await calendars_to_tell(conn, subscription_ids)
    for row in rows:
        sub = from_row(Subscription, row)
        await start_calendar(client, sub, row["auto_renew_version"], task_queue, tell=True)
        async with pool.connection() as conn:
            await mark_told(conn, sub.id, row["source_version"])
    return len(rows)


async def set_auto_renew(client: Client, pool: AsyncConnectionPool, subscription_id: str, on: bool,
                         task_queue: str):
    """The buyer's switch (R02: refused while a quote holds it); the store mirrors the answer."""
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT lapsed_on FROM subscriptions WHERE id = %s", (subscription_id,))
        row = await cur.fetchone()
    if row is None:
        raise BadInput(f"unknown subscription {subscription_id}")
    if row["lapsed_on"]:
        raise Refused("R01", f"{subscription_id} lapsed on {row['lapsed_on'].isoformat()}: its window has closed")
    handle = await ensure_calendar(client, pool, subscription_id, task_queue)
    try:
        state = await handle.execute_update(SubscriptionWorkflow.set_auto_renew, SetAutoRenewInput(on=on))
    except WorkflowUpdateFailedError as err:
        refusal = refusal_of(err)
        if refusal is None:
            raise
        raise refusal from None
    async with pool.connection() as conn:
        await sync_auto_renew(conn, state.subscription_id, state.auto_renew, state.held_by, state.version)
    return state
