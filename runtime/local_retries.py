"""A worker stops once the timers of its retried local attempts have run out, so Ctrl-C prints no Rust panic.

The SDK's core (temporalio/sdk-rust#1454, open in temporalio 1.35) leaves the start-to-close timer of a local
attempt running when the attempt is retried inside the workflow task (workflows/steps.py QUICK). If the
worker is gone when that timer fires, the core panics and prints a backtrace on stderr, after "stopping".
This interceptor notes until when such a timer may fire; `Workers.shutdown` waits for it (4 s at most,
the local start-to-close timeout) before it stops polling.
"""

import asyncio
import time
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

# Beyond the timeout: the core starts the timer as it hands out the attempt, a moment before it runs here.
SLACK = 0.5


class LocalRetries(Interceptor):
    def __init__(self) -> None:
        self.until = 0.0  # time.monotonic() when the last stale timer has fired

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _Watch(next, self)

    async def settled(self) -> None:
        """Until the timers noted so far have fired (while the worker still runs, they fire harmlessly)."""
        await asyncio.sleep(max(0.0, self.until - time.monotonic()))


class _Watch(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, owner: LocalRetries) -> None:
        super().__init__(next)
        self.owner = owner

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        started = time.monotonic()
        try:
            return await super().execute_activity(input)
        except Exception as err:
            info = activity.info()
            if info.is_local and info.start_to_close_timeout and retried_here(info, err):
                fires = started + info.start_to_close_timeout.total_seconds() + SLACK
                self.owner.until = max(self.owner.until, fires)
            raise


def retried_here(info: activity.Info, error: BaseException) -> bool:
    """Whether the core tries this local attempt again itself: then this attempt's timer is left running."""
    if isinstance(error, ApplicationError) and error.non_retryable:
        return False
    maximum = info.retry_policy.maximum_attempts if info.retry_policy else 0
    return not maximum or info.attempt < maximum
