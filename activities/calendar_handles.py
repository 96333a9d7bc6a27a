"""Handles on subscription calendars (SubscriptionWorkflow, id subscription-<id>): started once, and
never started again after a lapse, so the claims of its last term are never forgotten. The activities
that talk to calendars and the subscription service both reach them through here."""

from typing import Any, TypeVar

from pydantic import BaseModel
from temporalio.client import Client, WithStartWorkflowOperation, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy

from contracts import subscription as calendar
from contracts.failures import Failure, fail
from domain.eligibility import window_closes
from domain.models import Subscription
from store.calendars import subscription_row
from store.catalog import from_row
from store.pool import Pool

R = TypeVar("R")


async def start_calendar(
    client: Client,
    sub: Subscription,
    version: int,
    task_queue: str,
    tell: bool = False,
    switch_from_source: bool = True,
) -> WorkflowHandle[Any, calendar.AutoRenewState]:
    """Start the subscription's calendar, or find the one running: never two. With `tell`, the calendar
    (new or running) is also sent the stored row, in the same call (`switch_from_source`: whether its
    auto-renew switch is the source's, R18). It runs on the calendars' task queue of the deployment whose
    (quote) task queue is given."""
    return await client.start_workflow(
        calendar.WORKFLOW,
        calendar.CalendarState(subscription=sub, version=version),
        start_signal=calendar.SOURCE_CHANGED if tell else None,
        start_signal_args=[calendar.SourceChangedInput(subscription=sub, switch_from_source=switch_from_source)]
        if tell
        else [],
        **_start(sub, task_queue),
    )


async def tell_calendar_and_ask(
    client: Client, sub: Subscription, version: int, task_queue: str, switch_from_source: bool = True
) -> calendar.LoadAnswer:
    """As `start_calendar(tell=True)`, for a row whose auto quote may be due (R12): the calendar, new or
    running, takes the row by the `load` update in the same call and answers with the auto quote it made.
    Unlike the signal, it needs a worker to answer."""
    start: WithStartWorkflowOperation[Any, Any] = WithStartWorkflowOperation(
        calendar.WORKFLOW, calendar.CalendarState(subscription=sub, version=version), **_start(sub, task_queue)
    )
    return await client.execute_update_with_start_workflow(
        calendar.LOAD,
        calendar.SourceChangedInput(subscription=sub, switch_from_source=switch_from_source),
        start_workflow_operation=start,
        result_type=calendar.LoadAnswer,
    )


def _start(sub: Subscription, task_queue: str) -> dict[str, Any]:
    """How a calendar is started, however it is told: its id, its queue and priority, never a second one, and
    the line the Temporal UI shows under its id."""
    return {
        "id": calendar.workflow_id(sub.id),
        "task_queue": calendar.task_queue(task_queue),
        "priority": calendar.PRIORITY,
        "result_type": calendar.AutoRenewState,
        "id_conflict_policy": WorkflowIDConflictPolicy.USE_EXISTING,
        "static_summary": f"Subscription {sub.id}: {sub.product}, {sub.seats} seat(s), {sub.term.value}, "
        f"customer {sub.csn}",
    }


async def ensure_calendar(
    client: Client, pool: Pool, subscription_id: str, task_queue: str
) -> WorkflowHandle[Any, calendar.AutoRenewState]:
    """The subscription's calendar, started if it has none; a lapsed one is refused (type `Lapsed`)."""
    async with pool.connection() as conn:
        row = await subscription_row(conn, subscription_id)
    if row is None:
        fail(Failure.INVALID_DATA, f"unknown subscription {subscription_id}")
    if row["lapsed_on"] is not None:
        fail(
            Failure.LAPSED,
            f"{subscription_id} lapsed: its renewal window closed on {window_closes(row['lapsed_on']).isoformat()}",
        )
    return await start_calendar(client, from_row(Subscription, row), row["auto_renew_version"], task_queue)


async def calendar_update(
    client: Client, subscription_id: str, update: str, arg: BaseModel, result: type[R], update_id: str | None = None
) -> R:
    """An update on the subscription's running calendar (not started if there is none). With `update_id`, a
    retry of the same step joins the update already sent instead of sending another: a calendar that is
    slow to answer under a burst is not given the same work twice."""
    handle = client.get_workflow_handle(calendar.workflow_id(subscription_id))
    return await handle.execute_update(update, arg, id=update_id, result_type=result)
