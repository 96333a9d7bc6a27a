"""Refused and BadInput across Temporal, both ways, in one place: a workflow raises them as
ApplicationErrors (type `Refused`, rule in the details; `BadInput`; `PaymentDeclined`), and a caller
of an update gets them back as the domain's exceptions."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import NoReturn

from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from domain.errors import BadInput, PaymentDeclined, Refused

DECLINED = ("PaymentDeclined", "PaymentFailed")


def refuse(rule: str, message: str) -> NoReturn:
    raise ApplicationError(message, rule, type="Refused", non_retryable=True)


def encoded(err: Refused | BadInput) -> ApplicationError:
    if isinstance(err, Refused):
        return ApplicationError(err.message, err.rule, type="Refused", non_retryable=True)
    return ApplicationError(err.message, None, type="BadInput", non_retryable=True)


def checked(check, *args):
    """Run a domain check; its Refused or BadInput reaches the caller as the update's failure."""
    try:
        return check(*args)
    except (Refused, BadInput) as err:
        raise encoded(err) from None


def decoded(err: WorkflowUpdateFailedError) -> Refused | BadInput | None:
    cause = err.cause
    if not isinstance(cause, ApplicationError):
        return None
    if cause.type in DECLINED:
        return PaymentDeclined(cause.message)
    if cause.type == "Refused":
        return Refused(str(cause.details[0]) if cause.details else "lifecycle", cause.message)
    if cause.type == "BadInput":
        return BadInput(cause.message)
    return None


@asynccontextmanager
async def refused_update() -> AsyncIterator[None]:
    """Around an update call: a refusal comes out as Refused, BadInput or PaymentDeclined."""
    try:
        yield
    except WorkflowUpdateFailedError as err:
        refusal = decoded(err)
        if refusal is None:
            raise
        raise refusal from None
