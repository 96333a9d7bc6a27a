"""Business and validation failures are not retried: bad data stays bad on the next attempt, so an
activity that meets one fails once, with a clear message, where ops can see it."""

from decimal import DecimalException
from typing import Any

import psycopg.errors
import pydantic
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

from contracts.failures import Failure, failure
from domain.errors import BadInput, Refused, Stopped

# A row the store refuses (a value out of range, a NUL byte, an unknown key), text that cannot be encoded
# (a lone surrogate), data that does not validate, arithmetic on an impossible amount, a request a rule
# refuses, or a quote that cannot go on.
NOT_RETRYABLE = (
    psycopg.errors.DataError,
    UnicodeError,
    psycopg.errors.IntegrityError,
    pydantic.ValidationError,
    DecimalException,
    BadInput,
    Refused,
    Stopped,
)


class BusinessFailures(Interceptor):
    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _NonRetryable(next)


class _NonRetryable(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        try:
            return await super().execute_activity(input)
        except NOT_RETRYABLE as err:
            message = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise failure(Failure.INVALID_DATA, f"{type(err).__name__}: {message}") from err
