"""How the workflows run their steps (docs/faults.md): an outage is waited for, a business failure
ends the step at once.

A step is first tried as a local activity: two quick attempts inside the workflow task, one event
when it works. If it still fails for a reason that may pass (the database, the mail server, the
provider or a calendar not answering), it goes on as a regular activity, retried with capped back-off
for as long as the outage lasts: visible with its attempt and last failure in the Temporal UI and in
`renewals ops stuck`. No deadline turns an outage into a failed step. A non-retryable failure (a
refusal, a missing price, bad data, a declined card) ends the step with its reason.
"""

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, CancelledError, FailureError

with workflow.unsafe.imports_passed_through():
    from contracts.failures import classify, message_of

I = TypeVar("I")  # noqa: E741
R = TypeVar("R")

STEP_TIMEOUT = timedelta(seconds=15)
# Inside the workflow task: two attempts of at most four seconds each, then the outage is waited out
# outside it (where the quote's timers, like the buyer's wait for a payment, keep running, and its
# updates are answered).
LOCAL_TIMEOUT = timedelta(seconds=4)
QUICK = RetryPolicy(
    initial_interval=timedelta(milliseconds=200), maximum_interval=timedelta(seconds=2), maximum_attempts=2
)
# Then as long as it takes, at most two minutes between attempts.
OUTAGE = RetryPolicy(
    initial_interval=timedelta(seconds=1), backoff_coefficient=2, maximum_interval=timedelta(minutes=2)
)


async def step(activity: Callable[[Any, I], Awaitable[R]], arg: I, *, timeout: timedelta = STEP_TIMEOUT) -> R:
    """Run `activity` (a method of an activities class) until it works or fails for a business reason,
    which comes out as an ActivityError whose cause is the ApplicationError."""
    try:
        return await workflow.execute_local_activity_method(
            activity, arg, start_to_close_timeout=min(timeout, LOCAL_TIMEOUT), retry_policy=QUICK
        )
    except FailureError as err:
        failure = as_activity_error(err, activity)
        _unless_cancelled(failure)
        if not may_pass(failure):
            raise failure from failure.cause
    # The Temporal UI's row says what the quote waits for, until it is done.
    details = workflow.get_current_details()
    waiting = f"{details} · waiting: {getattr(activity, '__name__', 'a step')} ({message_of(failure)})"
    workflow.set_current_details(waiting)
    try:
        return await workflow.execute_activity_method(
            activity, arg, start_to_close_timeout=timeout, retry_policy=OUTAGE
        )
    finally:
        if workflow.get_current_details() == waiting:
            workflow.set_current_details(details)


def as_activity_error(err: FailureError, activity: object) -> ActivityError:
    """A local activity's failure can arrive bare: wrapped as a regular one's, so callers handle one type."""
    if isinstance(err, ActivityError):
        return err
    name = getattr(activity, "__name__", "activity")
    wrapped = ActivityError(
        f"local activity {name} failed",
        scheduled_event_id=0,
        started_event_id=0,
        identity="",
        activity_type=name,
        activity_id="",
        retry_state=None,
    )
    wrapped.__cause__ = err
    return wrapped


def _unless_cancelled(err: ActivityError) -> None:
    """A step cancelled with its task (a reminder dropped) is cancelled: never tried again."""
    if isinstance(err.cause, CancelledError):
        raise asyncio.CancelledError() from err


def may_pass(err: ActivityError) -> bool:
    """An outage (anything but a business failure, contracts/failures.py) may pass."""
    return classify(err) is None


async def durable(
    activity: Callable[[Any, I], Awaitable[R]], arg: I, *, timeout: timedelta = timedelta(minutes=1)
) -> R:
    """Run `activity` as a regular activity, retried through any outage (visible in `renewals ops stuck`);
    a business failure comes out as an ActivityError."""
    return await workflow.execute_activity_method(activity, arg, start_to_close_timeout=timeout, retry_policy=OUTAGE)


async def settled(activity: Callable[[Any, I], Awaitable[R]], arg: I, *, timeout: timedelta = STEP_TIMEOUT) -> R:
    """A step that must be done once it is decided (a write, a release, a refund, a renewal after a charge,
    R20): an outage is waited out as by `step`; a business failure is tried again after a pause that doubles
    up to an hour, the UI row saying what is stuck. Never given up on: nothing it holds is ever lost."""
    pause = timedelta(minutes=1)
    details = workflow.get_current_details()
    while True:
        try:
            result = await step(activity, arg, timeout=timeout)
        except ActivityError as err:
            _unless_cancelled(err)
            name = getattr(activity, "__name__", "a step")
            workflow.logger.warning("%s is stuck: %s", name, message_of(err))
            workflow.set_current_details(f"{details} · stuck: {name} ({message_of(err)})")
            await workflow.sleep(pause)
            pause = min(pause * 2, timedelta(hours=1))
            continue
        workflow.set_current_details(details)
        return result
