"""What the worker's log says about a business outcome and about an outage, on real parts: the buyer app,
a real worker on the time-skipping server and the fake payment provider. A declined card is one INFO
line without a traceback; a provider that is down keeps its WARNING, and its record keeps the error (the
terminal's formatter, runtime/log_lines.py, prints it as one line with the next try)."""

import logging
from datetime import timedelta

import pytest
from temporalio.testing import WorkflowEnvironment

from domain.quotes import QuoteState
from payments.gateway import ProviderUnavailable
from runtime.logs import ACTIVITY_LOGGER, WORKFLOW_LOGGER, BusinessOutcomes
from tests.helpers import CARD, CountingGateway, quote_result, quote_stack
from tests.workflows.test_web import browser, pay_form, sent_quote

SESSION_LOOP = pytest.mark.asyncio(loop_scope="session")
DECLINED = CARD | {"card_number": "4000 0000 0000 0002"}
UNAVAILABLE = CARD | {"card_number": "4000 0000 0000 0119"}


@SESSION_LOOP
async def test_a_declined_card_is_logged_as_one_info_line_without_a_traceback(
    env: WorkflowEnvironment, pool, settings, mailbox, gateway, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger=WORKFLOW_LOGGER)  # where the SDK logs a failed update
    async with quote_stack(env, pool, settings, gateway=gateway) as quotes, browser(quotes, settings, gateway) as web:
        quote = await sent_quote(env, pool, settings, quotes, "SUB-1001")
        fields = await pay_form(web, mailbox, quote.number)
        caplog.clear()
        declined = await web.post(f"/quotes/{quote.number}/pay", data=fields | DECLINED)
        assert declined.status_code == 402 and "nothing was charged" in declined.text
        assert (await quotes.show(quote.number)).state is QuoteState.ACCEPTED
        records = list(caplog.records)
    assert [r for r in records if r.exc_info or r.exc_text] == []  # no traceback, anywhere
    assert [r for r in records if r.levelno >= logging.WARNING] == []
    said = [r for r in records if r.levelno >= logging.INFO and "declined" in r.getMessage()]
    assert len(said) == 1, [r.getMessage() for r in said]
    line = said[0].getMessage()
    assert said[0].levelno == logging.INFO and said[0].name == ACTIVITY_LOGGER
    assert line.startswith("take_payment ended, not retried: PaymentDeclined: your card was declined (")
    assert f"'workflow_id': 'quote-{quote.number}'" in line and "\n" not in line
    # The failed update the workflow answers the buyer with: one line at DEBUG, no traceback either.
    updates = [
        r.getMessage() for r in records if r.name == WORKFLOW_LOGGER and "Update raised failure" in r.getMessage()
    ]
    assert updates and all(u.endswith("PaymentDeclined: your card was declined; nothing was charged") for u in updates)


@SESSION_LOOP
async def test_a_provider_outage_still_logs_its_warning_with_the_traceback(
    env: WorkflowEnvironment, pool, settings, mailbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    gateway = CountingGateway(pool, unavailable_for=timedelta(0))  # 503 once, then the charge goes through
    async with quote_stack(env, pool, settings, gateway=gateway) as quotes, browser(quotes, settings, gateway) as web:
        quote = await sent_quote(env, pool, settings, quotes, "SUB-1001")
        fields = await pay_form(web, mailbox, quote.number)
        paid = await web.post(f"/quotes/{quote.number}/pay", data=fields | UNAVAILABLE, follow_redirects=True)
        assert paid.status_code == 200
        assert (await quote_result(env.client, quote.number)).state is QuoteState.PAID
    outage = [
        r
        for r in caplog.records
        if r.name == ACTIVITY_LOGGER and r.exc_info and isinstance(r.exc_info[1], ProviderUnavailable)
    ]
    assert outage and all(r.levelno == logging.WARNING for r in outage)
    assert outage[0].getMessage().startswith("Completing activity as failed (")
    assert "Traceback" in caplog.text and "the payment provider answered 503" in caplog.text


@SESSION_LOOP
async def test_r16_a_superseded_quote_is_logged_as_one_info_line(
    env: WorkflowEnvironment, pool, settings, mailbox, gateway, caplog: pytest.LogCaptureFixture
) -> None:
    """Two quotes for one term: the one paid renews it, the other is cancelled by the system, said in one line."""
    caplog.set_level(logging.INFO)
    async with quote_stack(env, pool, settings, gateway=gateway) as quotes:
        first = await sent_quote(env, pool, settings, quotes, "SUB-1001")
        second = await sent_quote(env, pool, settings, quotes, "SUB-1001")
        caplog.clear()
        await quotes.accept(first.number, pay=True, reference="BANK-1")
        assert (await quote_result(env.client, second.number)).state is QuoteState.CANCELLED
        records = list(caplog.records)
    assert [r for r in records if r.exc_info or r.exc_text] == []
    said = [
        r.getMessage()
        for r in records
        if r.name == "temporalio.workflow" and f"quote {second.number}" in r.getMessage() and r.levelno >= logging.INFO
    ]
    assert len(said) == 1 and said[0].startswith(
        f"quote {second.number} cancelled by the system: superseded by {first.number}"
    ), said


def test_where_info_is_not_shown_a_business_outcome_is_not_shown_at_all() -> None:
    """`renewals dev` logs WARNING and up to its terminal: a declined card is no longer there as a crash."""
    from temporalio.exceptions import ApplicationError

    logger = logging.getLogger(ACTIVITY_LOGGER)

    def failed(error: ApplicationError) -> logging.LogRecord:
        failure = (ApplicationError, error, None)
        return logger.makeRecord(
            ACTIVITY_LOGGER, logging.WARNING, __file__, 1, "Completing activity as failed", (), failure
        )

    before = logger.level
    logger.setLevel(logging.WARNING)
    try:
        declined = failed(ApplicationError("your card was declined", type="PaymentDeclined", non_retryable=True))
        assert BusinessOutcomes().filter(declined) is False
        outage = failed(ApplicationError("the provider answered 503", type="ProviderUnavailable"))
        assert BusinessOutcomes().filter(outage) is True and outage.levelno == logging.WARNING and outage.exc_info
    finally:
        logger.setLevel(before)
