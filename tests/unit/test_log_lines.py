"""The log's formats (runtime/log_lines.py): a record is one line, readable or JSON, even when the SDK hands
it a traceback; an expected retry says its attempt and when the next one is; only a bug keeps its traceback."""

import errno
import json
import logging
import smtplib
import sys
from dataclasses import replace
from datetime import timedelta

import httpx
import psycopg
import pytest
from psycopg_pool import PoolTimeout
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import ActivityEnvironment

from activities.payments import RecordNotWritten
from payments.gateway import ProviderUnavailable
from runtime.log_lines import FAILED, JsonLines, Readable
from runtime.logs import ACTIVITY_LOGGER, BusinessOutcomes

# As workflows/steps.py's OUTAGE: from 1 s, doubling, at most two minutes apart.
OUTAGE = RetryPolicy(
    initial_interval=timedelta(seconds=1), backoff_coefficient=2, maximum_interval=timedelta(minutes=2)
)
QUICK = RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_attempts=2)


def failed(error: BaseException, attempt: int, policy: RetryPolicy = OUTAGE) -> logging.LogRecord:
    """The record the SDK makes of a failed attempt: WARNING, the traceback, the activity's details and info."""
    try:
        raise error
    except BaseException:
        exc_info = sys.exc_info()
    info = replace(
        ActivityEnvironment.default_info(),
        activity_type="find_payment",
        attempt=attempt,
        workflow_id="quote-Q-000007",
        workflow_run_id="run-1",
        retry_policy=policy,
    )
    details = {"activity_type": "find_payment", "attempt": attempt, "workflow_id": "quote-Q-000007"}
    details |= {"workflow_run_id": "run-1"}
    return logging.getLogger(ACTIVITY_LOGGER).makeRecord(
        ACTIVITY_LOGGER,
        logging.WARNING,
        __file__,
        1,
        FAILED,
        (),
        exc_info,
        extra={"temporal_activity": details, "activity_info": info},
    )


DOWN = ProviderUnavailable("the payment provider is unreachable for quote-Q-000007\n(test card fault)")


def test_an_outage_attempt_is_one_readable_line_with_its_attempt_and_next_try() -> None:
    line = Readable().format(failed(DOWN, attempt=3))
    assert "\n" not in line and "Traceback" not in line
    assert line.split(" ", 1)[1] == (
        "WARNING quote-Q-000007 find_payment attempt 3 failed, next try in 4s: "
        "ProviderUnavailable: the payment provider is unreachable for quote-Q-000007"
    )
    assert "next try in 2m:" in Readable().format(failed(DOWN, attempt=9))  # capped by the policy
    last = Readable().format(failed(DOWN, attempt=2, policy=QUICK))
    assert "find_payment attempt 2 of 2 failed: ProviderUnavailable" in last


def test_an_outage_attempt_is_one_json_line_with_the_activity_as_fields() -> None:
    line = JsonLines().format(failed(DOWN, attempt=3))
    assert "\n" not in line
    fields = json.loads(line)
    assert fields["level"] == "WARNING" and fields["logger"] == ACTIVITY_LOGGER and fields["time"].endswith("+00:00")
    assert fields["message"].startswith("attempt 3 failed, next try in 4s: ProviderUnavailable: ")
    assert (fields["workflow_id"], fields["activity_type"], fields["attempt"]) == ("quote-Q-000007", "find_payment", 3)
    assert fields["next_try_seconds"] == 4.0 and "traceback" not in fields


def test_a_bug_keeps_its_traceback_at_its_first_failure_only() -> None:
    for formatter in (Readable(), JsonLines()):
        first, second = (formatter.format(failed(KeyError("lines"), attempt=n)) for n in (1, 2))
        assert "Traceback" in first and "KeyError: 'lines'" in first
        assert "Traceback" not in second and "\n" not in second and "attempt 2 failed, next try in 2s" in second
    assert len(JsonLines().format(failed(KeyError("lines"), attempt=1)).splitlines()) == 1


def test_a_business_outcome_and_a_charge_not_known_are_one_line_each() -> None:
    declined = failed(ApplicationError("your card was declined", type="PaymentDeclined", non_retryable=True), 1)
    BusinessOutcomes().filter(declined)  # dropped where INFO is not shown; rewritten either way
    assert declined.levelno == logging.INFO and declined.exc_info is None
    assert (
        Readable()
        .format(declined)
        .endswith(" INFO quote-Q-000007 find_payment ended, not retried: PaymentDeclined: your card was declined")
    )
    lost = failed(ApplicationError("the answer was lost", type="ChargeUnknown", non_retryable=True), 1)
    assert BusinessOutcomes().filter(lost) and lost.levelno == logging.WARNING
    assert json.loads(JsonLines().format(lost))["message"] == "ended, not retried: ChargeUnknown: the answer was lost"


def test_other_loggers_read_by_their_part_of_the_stack() -> None:
    record = logging.getLogger("renewals.worker").makeRecord(
        "renewals.worker", logging.INFO, __file__, 1, "polling task_queue=%s", ("renewal-quotes",), None
    )
    assert Readable().format(record).split(" ", 1)[1] == "INFO worker polling task_queue=renewal-quotes"


@pytest.mark.parametrize(
    "error",
    [
        ConnectionRefusedError(111, "Connection refused"),  # the mail server down
        smtplib.SMTPServerDisconnected("Connection unexpectedly closed"),
        psycopg.OperationalError(
            'connection failed: connection to server on socket "/x/.s.PGSQL.5432" failed\n\tIs it?'
        ),
        PoolTimeout("couldn't get a connection after 30.00 sec"),  # PostgreSQL paused
        httpx.ConnectError("All connection attempts failed"),  # a webhook receiver down
        ApplicationError("quote.sent evt_1: the receiver answered 503"),
        RecordNotWritten("Q-000007 was charged (ch_1); recording it failed: the store is down"),
    ],
)
def test_every_outage_a_step_waits_for_is_one_line_per_attempt(error: BaseException) -> None:
    line = Readable().format(failed(error, attempt=2))
    assert "\n" not in line and " WARNING quote-Q-000007 find_payment attempt 2 failed, next try in 2s: " in line


def test_a_workflow_task_failure_keeps_its_traceback_once_for_the_same_run() -> None:
    logger = logging.getLogger("temporalio.worker._workflow_instance")
    try:
        raise AttributeError("'Quote' object has no attribute 'totl'")
    except AttributeError:
        exc_info = sys.exc_info()
    message = "Failed activation on workflow QuoteWorkflow with ID quote-Q-000007 and run ID run-1"
    formatter = Readable()
    first, again = (
        formatter.format(logger.makeRecord(logger.name, logging.WARNING, __file__, 1, message, (), exc_info))
        for _ in range(2)
    )
    assert "Traceback" in first and first.split("\n")[0].endswith(f"WARNING temporal {message}")
    assert again.endswith(f"WARNING temporal {message} (its traceback is above)")


@pytest.mark.parametrize(
    "error",
    [
        FileNotFoundError(2, "No such file or directory", "documents/fonts/missing.ttf"),
        PermissionError(13, "Permission denied", "/var/renewals"),
        RPCError("invalid search attribute", RPCStatusCode.INVALID_ARGUMENT, b""),
    ],
)
def test_a_missing_file_or_a_malformed_temporal_call_is_a_bug_with_its_traceback(error: BaseException) -> None:
    """Not every OSError or RPCError is an outage to wait out: these are fixed in the code or the set-up."""
    assert "Traceback" in Readable().format(failed(error, attempt=1))


def test_a_network_that_is_down_and_temporal_not_answering_are_outages() -> None:
    for error in (
        OSError(errno.ENETUNREACH, "Network is unreachable"),
        RPCError("connection refused", RPCStatusCode.UNAVAILABLE, b""),
    ):
        line = Readable().format(failed(error, attempt=2))
        assert "\n" not in line and "attempt 2 failed, next try in 2s" in line


def test_two_bugs_behind_one_message_each_show_their_traceback() -> None:
    """uvicorn says `Exception in ASGI application` for every failed request: two raise sites, two tracebacks."""
    logger = logging.getLogger("uvicorn.error")
    formatter = Readable()

    def record(fail) -> logging.LogRecord:
        try:
            fail()
        except KeyError:
            exc_info = sys.exc_info()
        return logger.makeRecord(logger.name, logging.ERROR, __file__, 1, "Exception in ASGI application", (), exc_info)

    def first() -> None:
        raise KeyError("a")

    def second() -> None:
        raise KeyError("b")

    assert "Traceback" in formatter.format(record(first))
    assert "Traceback" in formatter.format(record(second))
    assert formatter.format(record(first)).endswith("(its traceback is above)")
