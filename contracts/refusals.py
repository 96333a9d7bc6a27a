"""Refusals and stops across Temporal, both ways, in one place. A workflow raises them as
ApplicationErrors (type `Refused` with the rule in the details, `BadInput`, `PaymentDeclined`,
`Stopped`); the caller of an update gets them back as the domain's exceptions."""

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import NoReturn, ParamSpec, TypeVar

from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError, FailureError

from domain.errors import BadInput, PaymentDeclined, Refused, Stopped

DECLINED = ("PaymentDeclined", "PaymentFailed")
STOPPED = "Stopped"

P = ParamSpec("P")
R = TypeVar("R")


def refuse(rule: str, message: str) -> NoReturn:
    raise ApplicationError(message, rule, type="Refused", non_retryable=True)


def stop(message: str) -> NoReturn:
    raise ApplicationError(message, type=STOPPED, non_retryable=True)


def encoded(err: Refused | BadInput) -> ApplicationError:
    if isinstance(err, Refused):
        return ApplicationError(err.message, err.rule, type="Refused", non_retryable=True)
    return ApplicationError(err.message, None, type="BadInput", non_retryable=True)


def checked(check: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """Run a domain check; its Refused or BadInput reaches the caller as the update's failure."""
    try:
        return check(*args, **kwargs)
    except (Refused, BadInput) as err:
        raise encoded(err) from None


def decoded(err: WorkflowUpdateFailedError) -> Refused | BadInput | Stopped:
    """What the caller of an update hears: the refusal, or that the workflow could not do it."""
    cause = err.cause
    if isinstance(cause, ApplicationError):
        if cause.type in DECLINED:
            return PaymentDeclined(cause.message)
        if cause.type == "Refused":
            return Refused(str(cause.details[0]) if cause.details else "lifecycle", cause.message)
        if cause.type == "BadInput":
            return BadInput(cause.message)
    message = cause.message if isinstance(cause, FailureError) and cause.message else str(cause or err)
    return Stopped(message)


@asynccontextmanager
async def refused_update() -> AsyncIterator[None]:
    """Around an update call: a refusal comes out as Refused, BadInput or PaymentDeclined, and any
    other failure of the update as Stopped."""
    try:
        yield
    except WorkflowUpdateFailedError as err:
        raise decoded(err) from None
