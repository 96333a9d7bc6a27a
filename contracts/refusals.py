"""Refusals and stops across Temporal, both ways, in one place. A workflow raises them as
ApplicationErrors (type `Refused` with the rule in the details, `BadInput`, `PaymentDeclined`,
`Stopped`); the caller of an update gets them back as the domain's exceptions."""

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import NoReturn, ParamSpec, TypeVar

from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError, FailureError

from contracts.failures import NOT_CHARGED, Failure, failure
from domain.errors import BadInput, PaymentDeclined, Refused, Stopped

P = ParamSpec("P")
R = TypeVar("R")


def refuse(rule: str, message: str) -> NoReturn:
    raise failure(Failure.REFUSED, message, rule)


def stop(message: str) -> NoReturn:
    raise failure(Failure.STOPPED, message)


def encoded(err: Refused | BadInput) -> ApplicationError:
    """A domain refusal as the update's failure: a declined payment, a refusal with its rule, bad input."""
    if isinstance(err, PaymentDeclined):
        return failure(Failure.DECLINED, err.message)
    if isinstance(err, Refused):
        return failure(Failure.REFUSED, err.message, err.rule)
    return failure(Failure.BAD_INPUT, err.message, None)


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
        if cause.type in NOT_CHARGED:
            return PaymentDeclined(cause.message)
        if cause.type == Failure.REFUSED:
            return Refused(str(cause.details[0]) if cause.details else "lifecycle", cause.message)
        if cause.type == Failure.BAD_INPUT:
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
