"""How the workflows run their steps: local activities, typed, whose failures arrive as a regular
activity's do, and one way to read any step's failure."""

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, FailureError

I = TypeVar("I")  # noqa: E741
R = TypeVar("R")

# A local activity runs inside the workflow task that starts it: no task of its own, one event.
LOCAL_TIMEOUT = timedelta(seconds=15)
LOCAL_DEADLINE = timedelta(minutes=10)


async def local(
    activity: Callable[[Any, I], Awaitable[R]],
    arg: I,
    *,
    timeout: timedelta = LOCAL_TIMEOUT,
    deadline: timedelta = LOCAL_DEADLINE,
    retry: RetryPolicy | None = None,
) -> R:
    """Run `activity` (a method of an activities class) as a local activity; a failure comes out as an
    ActivityError whatever the SDK gives, so callers handle one type."""
    try:
        return await workflow.execute_local_activity_method(
            activity, arg, start_to_close_timeout=timeout, schedule_to_close_timeout=deadline, retry_policy=retry
        )
    except FailureError as err:
        if isinstance(err, ActivityError):
            raise
        name = getattr(activity, "__name__", "activity")
        raise ActivityError(
            f"local activity {name} failed",
            scheduled_event_id=0,
            started_event_id=0,
            identity="",
            activity_type=name,
            activity_id="",
            retry_state=None,
        ) from err


def failure_type(err: ActivityError) -> str | None:
    """The ApplicationError type a step failed with (`MissingPrice`, `PaymentDeclined`, ...), if any."""
    cause = err.cause
    return cause.type if isinstance(cause, ApplicationError) else None


def failure_message(err: BaseException) -> str:
    """What a step's failure says, for the quote's details, a log line or the buyer."""
    cause = err.cause if isinstance(err, ActivityError) else err
    if isinstance(cause, FailureError) and cause.message:
        return cause.message
    return str(cause or err)
