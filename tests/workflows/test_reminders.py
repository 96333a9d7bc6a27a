"""R22 reminders on the time-skipping server, with the real worker, PostgreSQL and SMTP: a sent quote is
reminded 7 days and 1 day before it expires, an accepted one to pay; each once, to every recipient, and
none once the quote is paid or cancelled."""

from datetime import timedelta

import pytest
from temporalio.testing import WorkflowEnvironment

from domain.quotes import QuoteState
from tests.helpers import quote_result, quote_stack, request, rows, settled, until

pytestmark = pytest.mark.asyncio(loop_scope="session")

CFO = "cfo@acme.example"


async def skip_to_before_expiry(env: WorkflowEnvironment, quote, days: int) -> None:
    """The clock a minute past `days` before the quote expires, once it has nothing in flight."""
    await settled(env.client, quote.number)
    target = quote.expires_at - timedelta(days=days) + timedelta(minutes=1)
    await env.sleep(target - await env.get_current_time())
    await settled(env.client, quote.number)


def subjects(mailbox, start: str) -> list[tuple[str, str]]:
    return sorted((m["To"], m["Subject"]) for m in mailbox.messages() if m["Subject"].startswith(start))


async def reminded_events(pool, number: str) -> list[dict]:
    found = await rows(
        pool, "SELECT detail FROM quote_events WHERE quote_number = %s AND event = 'reminded' ORDER BY id", number
    )
    return [row["detail"] for row in found]


async def test_r22_sent_quote_reminded_7_days_and_1_day_before_expiry_each_once(
    env: WorkflowEnvironment, pool, settings, mailbox
) -> None:
    async with quote_stack(env, pool, settings) as quotes:
        quote = await quotes.create(request("SUB-1002", recipients=[CFO]), send=True)
        await skip_to_before_expiry(env, quote, 8)
        assert subjects(mailbox, "Reminder") == []

        await skip_to_before_expiry(env, quote, 7)
        week = await until(lambda: _found(mailbox, "Reminder:", 2), "two 7-day reminders")
        assert [to for to, _ in week] == ["buyer@acme.example", CFO]
        assert all(f"quote {quote.number}" in subject for _, subject in week)
        assert (await quotes.show(quote.number)).reminded == [7]

        await skip_to_before_expiry(env, quote, 1)
        await until(lambda: _found(mailbox, "Reminder:", 4), "two 1-day reminders")
        await env.sleep(timedelta(days=2))
        assert (await quote_result(env.client, quote.number)).state is QuoteState.EXPIRED
    assert len(subjects(mailbox, "Reminder")) == 4  # each once, to each recipient: none after it expired
    events = await reminded_events(pool, quote.number)
    assert [(e["days"], e["purpose"]) for e in events] == [(7, "reminder"), (1, "reminder")]
    assert events[0]["recipients"] == ["buyer@acme.example", CFO]
    # Each reminder is its own message (Message-ID per quote, recipient and day), written once.
    sent = await rows(pool, "SELECT purpose FROM sent_mail WHERE quote_number = %s ORDER BY purpose", quote.number)
    assert [r["purpose"] for r in sent].count("reminder-7d") == 2
    assert [r["purpose"] for r in sent].count("reminder-1d") == 2


async def _found(mailbox, start: str, count: int):
    found = subjects(mailbox, start)
    return found if len(found) >= count else None


async def test_r22_accepted_unpaid_quote_is_reminded_to_pay(env: WorkflowEnvironment, pool, settings, mailbox) -> None:
    async with quote_stack(env, pool, settings) as quotes:
        quote = await quotes.create(request("SUB-1002"), send=True)
        await quotes.accept(quote.number)
        await skip_to_before_expiry(env, quote, 7)
        (pay,) = await until(lambda: _found(mailbox, "Reminder to pay:", 1), "a reminder to pay")
        assert pay == ("buyer@acme.example", pay[1]) and quote.number in pay[1]
        body = next(m for m in mailbox.messages() if m["Subject"].startswith("Reminder to pay:"))
        assert "not paid yet" in body.get_body(("plain",)).get_content()
        assert subjects(mailbox, "Reminder:") == []
    assert [e["purpose"] for e in await reminded_events(pool, quote.number)] == ["pay_reminder"]


async def test_r22_no_reminder_after_the_quote_is_paid(env: WorkflowEnvironment, pool, settings, mailbox) -> None:
    async with quote_stack(env, pool, settings) as quotes:
        quote = await quotes.create(request("SUB-1002"), send=True)
        await quotes.accept(quote.number, pay=True)
        await quote_result(env.client, quote.number)
        await env.sleep(timedelta(days=31))
    assert subjects(mailbox, "Reminder") == []
    assert await reminded_events(pool, quote.number) == []


async def test_r22_no_reminder_for_a_cancelled_quote(env: WorkflowEnvironment, pool, settings, mailbox) -> None:
    async with quote_stack(env, pool, settings) as quotes:
        quote = await quotes.create(request("SUB-1002"), send=True)
        await skip_to_before_expiry(env, quote, 10)
        await quotes.cancel(quote.number, by="partner")
        await quote_result(env.client, quote.number)
        await env.sleep(timedelta(days=21))
    assert subjects(mailbox, "Reminder") == []
    assert await reminded_events(pool, quote.number) == []


async def test_r22_a_draft_is_never_reminded(env: WorkflowEnvironment, pool, settings, mailbox) -> None:
    async with quote_stack(env, pool, settings) as quotes:
        quote = await quotes.create(request("SUB-1002"))
        await settled(env.client, quote.number)
        await env.sleep(quote.expires_at - await env.get_current_time() + timedelta(minutes=1))
        assert (await quote_result(env.client, quote.number)).state is QuoteState.EXPIRED
    assert subjects(mailbox, "Reminder") == []


async def test_r22_reminder_days_are_configurable_and_none_is_sent_before_the_quote_was(
    env: WorkflowEnvironment, pool, settings, mailbox
) -> None:
    """QUOTE_REMINDER_DAYS=40,3: a quote valid for 30 days gets no "40 days" reminder (it was not sent
    then), and its 3-day one."""
    async with quote_stack(env, pool, settings.model_copy(update={"quote_reminder_days": "40, 3"})) as quotes:
        quote = await quotes.create(request("SUB-1002"), send=True)
        await skip_to_before_expiry(env, quote, 3)
        await until(lambda: _found(mailbox, "Reminder:", 1), "the 3-day reminder")
        await env.sleep(timedelta(days=4))
        await quote_result(env.client, quote.number)
    assert [e["days"] for e in await reminded_events(pool, quote.number)] == [3]
    assert len(subjects(mailbox, "Reminder")) == 1


async def test_r22_a_reminder_retried_after_the_quote_was_paid_sends_nothing(
    env: WorkflowEnvironment, pool, settings, mailbox
) -> None:
    """A reminder's email retried through a mail outage checks the stored quote first: once it is paid
    (or accepted, or ended), the reminder is not sent."""
    from activities.email import SendQuoteEmailsInput
    from runtime.temporal import activities

    async with quote_stack(env, pool, settings) as quotes:
        quote = await quotes.create(request("SUB-1002", recipients=[CFO]), send=True)
        await quotes.accept(quote.number, pay=True)
        await quote_result(env.client, quote.number)
        send = next(a for a in activities(env.client, pool, settings) if a.__name__ == "send_quote_emails")
        late = await send(
            SendQuoteEmailsInput(quote=quote, recipients=quote.all_recipients, purpose="reminder", days_left=7)
        )
        due = await send(
            SendQuoteEmailsInput(quote=quote, recipients=quote.all_recipients, purpose="paid")
        )  # any other purpose still goes
    assert late.sent == [] and subjects(mailbox, "Reminder") == []
    assert len(due.sent) == 2
