"""The log's two formats: readable lines for a terminal (`make run`) and JSON lines for a collector.

Both say one record in one line. A failed activity attempt the SDK logs with its traceback ("Completing
activity as failed") becomes `attempt 3 failed, next try in 4s: ProviderUnavailable: ...` when the error
is expected: an outage (the store, the mail server, the provider, a receiver or a calendar not answering)
or one an activity raised on purpose. Only a bug keeps its traceback, at its first failure in a run.
"""

import errno
import json
import logging
import smtplib
import socket
from collections import OrderedDict
from datetime import UTC, datetime, timedelta
from functools import cache

from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

from runtime.logs import ACTIVITY_LOGGER

FAILED = "Completing activity as failed"
# Short names of the loggers a terminal reader knows by their part of the stack.
AREAS = {"temporalio": "temporal", "uvicorn": "web", "httpx": "http"}
# The SDK's activity and workflow details a JSON line carries as fields.
DETAILS = ("temporal_activity", "temporal_workflow")
# The plain OSErrors of a network that is down (the rest of the network's errors have classes of their own).
NETWORK_DOWN = frozenset({errno.ENETDOWN, errno.ENETUNREACH, errno.EHOSTDOWN, errno.EHOSTUNREACH})


@cache
def outages() -> tuple[type[BaseException], ...]:
    """What a step raises while what it reaches is down; imported once a record needs it (the worker has them)."""
    import httpx
    import psycopg

    from activities.payments import RecordNotWritten, RefundNotConfirmed
    from activities.subscriptions import RenewalNotFinished
    from payments.gateway import OutcomeUnknown, ProviderUnavailable

    # Not every OSError: a missing file or a denied permission is a bug or a setup to fix, with its traceback.
    return (
        ConnectionError,  # refused, reset or broken connections
        TimeoutError,
        socket.gaierror,  # a host name that does not resolve (yet)
        smtplib.SMTPException,  # the mail server refusing for now or hanging up
        psycopg.OperationalError,  # PostgreSQL down, restarting or out of connections (the pool's timeout)
        httpx.TransportError,  # a webhook receiver or the provider not answering
        ProviderUnavailable,
        OutcomeUnknown,
        RecordNotWritten,
        RefundNotConfirmed,
        RenewalNotFinished,
    )


def expected(error: BaseException) -> bool:
    """An error no traceback helps with: an outage, or an ApplicationError an activity raised on purpose.
    Temporal's errors only when it, or a calendar's update, is not answering (not a malformed call)."""
    from temporalio.service import RPCError, RPCStatusCode

    if isinstance(error, OSError) and error.errno in NETWORK_DOWN:
        return True
    if isinstance(error, RPCError):
        return error.status in {
            RPCStatusCode.UNAVAILABLE,
            RPCStatusCode.DEADLINE_EXCEEDED,
            RPCStatusCode.RESOURCE_EXHAUSTED,
        }
    return isinstance(error, (ApplicationError, *outages()))


def said(error: BaseException) -> str:
    """`ProviderUnavailable: the payment provider is unreachable ...`: the type and the first line."""
    kind = error.type if isinstance(error, ApplicationError) and error.type else type(error).__name__
    text = (error.message if isinstance(error, ApplicationError) else str(error)).strip().splitlines()
    return f"{kind}: {text[0]}" if text else kind


def policy_of(record: logging.LogRecord) -> RetryPolicy | None:
    """The activity's retry policy, as the server sent it: on the record's full activity info (logs.py asks
    the SDK for it), or None if the record has none."""
    info = getattr(record, "activity_info", None)
    return getattr(info, "retry_policy", None)


def next_try(record: logging.LogRecord, error: BaseException, attempt: int) -> timedelta | None:
    """When the activity is tried again, by its retry policy, or None if this was its last attempt (or the
    record does not say)."""
    if isinstance(error, ApplicationError) and error.next_retry_delay:
        return error.next_retry_delay
    policy = policy_of(record)
    if policy is None or (policy.maximum_attempts and attempt >= policy.maximum_attempts):
        return None
    delay = policy.initial_interval * policy.backoff_coefficient ** (attempt - 1)
    return min(delay, policy.maximum_interval or policy.initial_interval * 100)  # Temporal's default cap


def seconds(delay: timedelta) -> str:
    """`0.2s`, `4s`, `2m`: as long as the delay, as short as it reads."""
    total = delay.total_seconds()
    if total < 10:
        return f"{total:.1f}".removesuffix(".0") + "s"
    return f"{total:.0f}s" if total < 120 else f"{total / 60:.0f}m"


class Lines:
    """What both formats say of a record: its message in one line, its fields, and a bug's traceback once."""

    def __init__(self) -> None:
        self.told: OrderedDict[tuple, None] = OrderedDict()  # the bugs whose traceback is in the log already

    def event(self, record: logging.LogRecord) -> tuple[str, dict, str | None]:
        """The message, the fields beyond the SDK's details, and the traceback to show (None: none)."""
        outcome = getattr(record, "outcome", None)
        if outcome:
            return f"ended, not retried: {outcome}", {}, None
        error = record.exc_info[1] if record.exc_info else None
        if error is None:
            return record.getMessage(), {}, None
        if not (record.name == ACTIVITY_LOGGER and str(record.msg).startswith(FAILED)):
            # Elsewhere (a workflow task, a web request) a traceback once per message: each retry says it again.
            message = record.getMessage()
            return self.once((record.name, message, type(error).__name__, *raised_at(record)), message, {}, record)
        if isinstance(error, ApplicationError) and error.non_retryable:
            return f"ended, not retried: {said(error)}", {}, None
        details = getattr(record, "temporal_activity", None) or {}
        message, fields = attempt_failed(record, error, int(details.get("attempt") or 1))
        if expected(error):
            return message, fields, None
        key = (details.get("workflow_run_id"), details.get("activity_type"), type(error).__name__)
        return self.once(key, message, fields, record)

    def once(self, key: tuple, message: str, fields: dict, record: logging.LogRecord) -> tuple[str, dict, str | None]:
        """The traceback the first time `key` is seen; after that, the line says where it is."""
        if key in self.told:
            return f"{message} (its traceback is above)", fields, None
        self.told[key] = None
        if len(self.told) > 1000:
            self.told.popitem(last=False)
        return message, fields, logging.Formatter().formatException(record.exc_info) if record.exc_info else ""


def raised_at(record: logging.LogRecord) -> tuple[str, int]:
    """Where the error was raised (its innermost frame), so two bugs behind one message each show theirs."""
    trace = record.exc_info[2] if record.exc_info else None
    while trace is not None and trace.tb_next is not None:
        trace = trace.tb_next
    return (trace.tb_frame.f_code.co_filename, trace.tb_lineno) if trace is not None else ("", 0)


def attempt_failed(record: logging.LogRecord, error: BaseException, attempt: int) -> tuple[str, dict]:
    """`attempt 3 failed, next try in 4s: ...`, or `attempt 2 of 2 failed: ...` when it was the last."""
    delay = next_try(record, error, attempt)
    if delay is None:  # its last: a step's quick attempts go on as a regular activity (workflows/steps.py)
        policy = policy_of(record)
        of = f" of {policy.maximum_attempts}" if policy and policy.maximum_attempts else ""
        return f"attempt {attempt}{of} failed: {said(error)}", {"next_try_seconds": None}
    message = f"attempt {attempt} failed, next try in {seconds(delay)}: {said(error)}"
    return message, {"next_try_seconds": delay.total_seconds()}


def area(record: logging.LogRecord) -> str:
    """`quote-Q-000001 find_payment` for an activity, the workflow id for a workflow, else the logger's part."""
    activity = getattr(record, "temporal_activity", None)
    if activity:
        return " ".join(str(part) for part in (activity.get("workflow_id"), activity.get("activity_type")) if part)
    workflow = getattr(record, "temporal_workflow", None)
    if workflow and workflow.get("workflow_id"):
        return str(workflow["workflow_id"])
    top, _, rest = record.name.partition(".")
    return rest if top == "renewals" and rest else AREAS.get(top, record.name)


class Readable(logging.Formatter):
    """`14:02:03 INFO quote-Q-000001 take_payment quote=Q-000001 paid ...`: time, level, area, message."""

    def __init__(self) -> None:
        super().__init__(datefmt="%H:%M:%S")
        self.lines = Lines()

    def format(self, record: logging.LogRecord) -> str:
        message, _, traceback = self.lines.event(record)
        message = " ".join(part.strip() for part in message.splitlines() if part.strip())
        line = f"{self.formatTime(record, self.datefmt)} {record.levelname} {area(record)} {message}"
        return f"{line}\n{traceback}" if traceback else line


class JsonLines(logging.Formatter):
    """One JSON object a line: time, level, logger, message, the SDK's activity or workflow details as fields,
    `next_try_seconds` for a retried attempt and `traceback` for a bug."""

    def __init__(self) -> None:
        super().__init__()
        self.lines = Lines()

    def format(self, record: logging.LogRecord) -> str:
        message, fields, traceback = self.lines.event(record)
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": message,
        }
        for name in DETAILS:
            line |= {k: v for k, v in (getattr(record, name, None) or {}).items() if k not in line}
        line |= fields
        if traceback:
            line["traceback"] = traceback
        return json.dumps(line, default=str)
