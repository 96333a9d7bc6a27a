"""RetentionWorkflow's contract: a Temporal schedule runs it every few hours to delete the buyer's sign-in links
and sessions that stopped working a day ago (R24): nothing is kept that cannot be used."""

from datetime import timedelta

from pydantic import BaseModel

WORKFLOW = "RetentionWorkflow"
EVERY = timedelta(hours=6)
KEEP_ENDED = timedelta(days=1)  # an expired or ended sign-in or session is kept this long, then deleted


def schedule_id(task_queue: str) -> str:
    """One schedule per deployment (its task queue), so that several stacks can share a Temporal cluster."""
    return f"renewals-retention-{task_queue}"


def workflow_id(task_queue: str) -> str:
    return f"retention-{task_queue}"


class RetentionInput(BaseModel):
    keep: timedelta = KEEP_ENDED


class RetentionResult(BaseModel):
    sign_ins: int
    sessions: int
