"""A workflow update's refusal, as the caller's Refused or BadInput (the validators raise them by type)."""

from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from domain.errors import BadInput, PaymentDeclined, Refused


def refusal_of(err: WorkflowUpdateFailedError) -> Refused | BadInput | None:
    cause = err.cause
    if not isinstance(cause, ApplicationError):
        return None
    if cause.type in ("PaymentDeclined", "PaymentFailed"):
        return PaymentDeclined(cause.message)
    if cause.type == "Refused":
        return Refused(str(cause.details[0]) if cause.details else "lifecycle", cause.message)
    if cause.type == "BadInput":
        return BadInput(cause.message)
    return None
