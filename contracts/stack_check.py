"""StackCheckWorkflow's contract: `renewals dev` runs it once at start to show the worker and store answer."""

from pydantic import BaseModel

WORKFLOW = "StackCheckWorkflow"


class StackCheckInput(BaseModel):
    pass


class StackCheckResult(BaseModel):
    counts: dict[str, int]
