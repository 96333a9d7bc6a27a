"""The Temporal schedules a worker makes sure of at start: today, the retention of sign-ins and sessions (R24).
Made once per deployment; a worker that finds it made leaves it as it is."""

import logging

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleSpec,
)
from temporalio.service import RPCError

from contracts import retention

log = logging.getLogger("renewals.worker")


async def ensure_retention_schedule(client: Client, task_queue: str) -> bool:
    """True if it was made now. A Temporal that cannot make it now (down, or without schedules) is logged:
    the worker runs anyway, and the next start makes it."""
    try:
        await client.create_schedule(
            retention.schedule_id(task_queue),
            Schedule(
                action=ScheduleActionStartWorkflow(
                    retention.WORKFLOW,
                    retention.RetentionInput(),
                    id=retention.workflow_id(task_queue),
                    task_queue=task_queue,
                ),
                spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=retention.EVERY)]),
            ),
        )
    except ScheduleAlreadyRunningError:
        return False
    except RPCError as err:
        log.warning("the retention schedule could not be made now (%s); the next start tries again", err.message)
        return False
    log.info("made the retention schedule %s (every %s)", retention.schedule_id(task_queue), retention.EVERY)
    return True
