"""Every way a step can fail, named once (docs/faults.md). An activity raises a business failure with
`fail`; a workflow reads any failure with `classify`; the log filter and the callers of updates use the same
names. Whatever is not a business failure is an outage: waited for, never given up on."""

from enum import StrEnum
from typing import NoReturn

from temporalio.exceptions import ActivityError, ApplicationError, FailureError


class Failure(StrEnum):
    """The ApplicationError types; each one ends a step at once, with its reason."""

    REFUSED = "Refused"  # a rule forbids it (the rule is the first detail)
    BAD_INPUT = "BadInput"  # the request cannot be carried out as given
    STOPPED = "Stopped"  # the quote or calendar cannot go on
    DECLINED = "PaymentDeclined"  # the provider said no: nothing was charged
    PAYMENT_FAILED = "PaymentFailed"  # the provider confirmed that nothing was charged
    CHARGE_UNKNOWN = "ChargeUnknown"  # the provider's answer was lost: asked again by key (R20)
    AUTHENTICATE = "AuthenticationRequired"  # the buyer confirms the charge at their bank first (the URL, detail)
    CHARGE_REFUNDED = "ChargeRefunded"  # the key's charge was refunded: the quote cannot be paid again
    MISSING_PRICE = "MissingPrice"  # the price book has no price for a line
    INVALID_DATA = "InvalidData"  # a row or record that does not validate: the next attempt fails alike
    LAPSED = "Lapsed"  # the subscription's window closed and nothing renewed it (R01)
    MAIL_REFUSED = "MailRefused"  # the mail server refused a recipient or the login


# Outcomes of the business, logged as one INFO line (runtime/logs.py). MailRefused and ChargeUnknown are not:
# they are for a person to look at, one WARNING line.
BUSINESS = frozenset(Failure) - {Failure.MAIL_REFUSED, Failure.CHARGE_UNKNOWN}
# What a buyer's payment ends with when it did not go through (the caller hears PaymentDeclined).
NOT_CHARGED = (Failure.DECLINED, Failure.PAYMENT_FAILED)


def failure(kind: Failure, message: str, *details: object) -> ApplicationError:
    """A business failure: not retried, its message said to whoever asked."""
    return ApplicationError(message, *details, type=kind.value, non_retryable=True)


def fail(kind: Failure, message: str, *details: object) -> NoReturn:
    raise failure(kind, message, *details)


def classify(err: BaseException) -> Failure | None:
    """The business failure an error is (through an activity's wrapper), or None for an outage."""
    cause = err.cause if isinstance(err, ActivityError) else err
    if isinstance(cause, ApplicationError) and cause.non_retryable:
        try:
            return Failure(cause.type or "")
        except ValueError:
            return Failure.INVALID_DATA  # a non-retryable error of no known type: the data will not change
    return None


def message_of(err: BaseException) -> str:
    """What a failure says, for the quote's details, a log line or the buyer."""
    cause = err.cause if isinstance(err, ActivityError) else err
    if isinstance(cause, FailureError) and cause.message:
        return cause.message
    return str(cause or err)


def action_url_of(err: BaseException) -> str | None:
    """Where the buyer authenticates a charge the provider has not decided (AuthenticationRequired's detail)."""
    cause = err.cause if isinstance(err, ActivityError) else err
    if isinstance(cause, ApplicationError) and cause.type == Failure.AUTHENTICATE and cause.details:
        url = cause.details[0]
        return url if isinstance(url, str) and url.startswith(("https://", "http://")) else None
    return None
