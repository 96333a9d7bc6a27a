"""How the worker's log reads: one line per event, and a business outcome as one INFO line, never a crash.

A declined card, a refusal (`refused (Rnn)`), a superseded quote, a missing price or bad data ends the
activity with a non-retryable ApplicationError of a business type. The Temporal SDK logs every failed
activity as a WARNING with its traceback ("Completing activity as failed"), and a failed update at DEBUG
with its traceback ("Update raised failure"): for these outcomes that reads as a crash. The filter below
turns such a record into one line, the outcome in words, without the traceback; the activity's at INFO.
Everything else, an outage that is retried included, is logged as the SDK logs it.
"""

import logging

from temporalio.exceptions import ApplicationError

from contracts.failures import BUSINESS

# The ApplicationError types that are outcomes of the business, not failures of the system (defined once,
# in contracts/failures.py). Not here: ChargeUnknown and MailRefused, for a person to look at.
BUSINESS_TYPES = frozenset(kind.value for kind in BUSINESS)

# Where the SDK logs a failed activity (temporalio.activity.logger) and a failed update.
ACTIVITY_LOGGER = "temporalio.activity"
WORKFLOW_LOGGER = "temporalio.worker._workflow_instance"


def business_outcome(error: BaseException | None) -> ApplicationError | None:
    """The error, if it is a business outcome: a non-retryable ApplicationError of a business type."""
    if isinstance(error, ApplicationError) and error.non_retryable and error.type in BUSINESS_TYPES:
        return error
    return None


def one_line(error: ApplicationError) -> str:
    """`PaymentDeclined: your card was declined`: its type and the first line of its message."""
    text = (error.message or "").strip().splitlines()
    return f"{error.type}: {text[0] if text else error.type}"


class BusinessOutcomes(logging.Filter):
    """On the SDK's loggers: a business outcome's record loses its traceback and says the outcome in one line;
    a failed activity's is logged at INFO (shown only where INFO is), a failed update's stays at DEBUG."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = business_outcome(record.exc_info[1] if record.exc_info else None)
        if error is None:
            return True
        record.exc_info = None
        record.exc_text = None
        record.stack_info = None
        if record.name == ACTIVITY_LOGGER:
            # As the SDK's other activity lines: the activity's details (workflow id, attempt, ...) at the end.
            info = getattr(record, "temporal_activity", None) or {}
            record.msg = "%s ended, not retried: %s (%s)"
            record.args = (info.get("activity_type", "an activity"), one_line(error), info)
            if record.levelno > logging.INFO:
                record.levelno, record.levelname = logging.INFO, logging.getLevelName(logging.INFO)
                # The record was made because WARNING is logged here; INFO may not be.
                return logging.getLogger(record.name).isEnabledFor(logging.INFO)
            return True
        record.msg = f"{record.getMessage()}: {one_line(error)}"
        record.args = None
        return True


_FILTER = BusinessOutcomes()


def quiet_business_outcomes() -> None:
    """Put the filter on the SDK's loggers (once, however often called): every worker does, when it is built."""
    for name in (ACTIVITY_LOGGER, WORKFLOW_LOGGER):
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)


def configure_logging(level: str) -> None:
    """One line per event on stderr; activity and workflow lines carry their workflow id and the quote number."""
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        datefmt="%Y-%m-%dT%H:%M:%S%z",
    )
    quiet_business_outcomes()
