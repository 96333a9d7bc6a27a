"""R29 on the time-skipping server, with the real worker, PostgreSQL and SMTP: a quote accepted to be paid by bank
transfer holds (R17) and is reminded (R22) until its transfer is recorded with its RF reference and exact total,
through the same workflow path as any offline payment; otherwise it expires and lets go. A statement's lines
each get an answer, and the same line twice pays once."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from temporalio.testing import WorkflowEnvironment

from domain.bank_transfer import printed, rf_reference
from domain.errors import BadInput, Refused
from domain.quotes import QuoteState
from services.bank_transfers import Transfer, record_transfers
from tests.helpers import (
    audit,
    paid_once,
    quote_result,
    quote_stack,
    request,
    rows,
    scalar,
    settled,
    subscription_row,
    until,
)
from tests.workflows.test_reminders import _found, skip_to_before_expiry, subjects

pytestmark = pytest.mark.asyncio(loop_scope="session")
DAY = date(2027, 1, 4)


def line(quote, amount: Decimal | None = None, reference: str | None = None) -> Transfer:
    return Transfer(
        reference=reference or rf_reference(quote.number),
        amount=quote.total if amount is None else amount,
        currency=quote.currency,
        date=DAY,
    )


async def test_r29_bank_transfer_accepts_and_holds_until_the_transfer_is_recorded(
    env: WorkflowEnvironment, pool, settings, mailbox
) -> None:
    async with quote_stack(env, pool, settings) as quotes:
        before = await subscription_row(pool, "SUB-1002")
        quote = await quotes.create(request("SUB-1002"), send=True)
        accepted = await quotes.accept(quote.number, bank_transfer=True)
        reference = rf_reference(quote.number)
        assert (accepted.state, accepted.transfer_reference, accepted.payment) == (
            QuoteState.ACCEPTED,
            reference,
            None,
        )
        await settled(env.client, quote.number)
        assert (await subscription_row(pool, "SUB-1002"))["held_by"] == [quote.number]  # R17
        again = await quotes.accept(quote.number, bank_transfer=True)  # chosen twice: nothing new
        assert again.revision == accepted.revision
        with pytest.raises(BadInput, match="is not a valid ISO 11649 reference"):
            await quotes.pay(quote.number, reference[:-1] + ("8" if reference.endswith("9") else "9"))  # one digit off
        paid = await quotes.pay(quote.number, reference.lower(), amount=quote.total, received_on=DAY)
        assert (paid.state, paid.payment_reference) == (QuoteState.PAID, reference)
        await quote_result(env.client, quote.number)
        after = await subscription_row(pool, "SUB-1002")
        await paid_once(pool, paid, quote.total, "EUR", method="offline")
        await audit(env, pool)  # offline money: the provider is never asked
    assert after["end_date"] == before["end_date"].replace(year=before["end_date"].year + 1)
    assert after["held_by"] == []
    events = await rows(
        pool, "SELECT event, detail FROM quote_events WHERE quote_number = %s ORDER BY id", quote.number
    )
    paid_event = next(e for e in events if e["event"] == "paid")
    assert (paid_event["detail"]["reference"], paid_event["detail"]["received_on"]) == (reference, DAY.isoformat())
    assert next(e for e in events if e["event"] == "accepted")["detail"]["payment"] == "bank_transfer"


async def test_r29_a_transfer_of_the_wrong_amount_is_refused_with_the_difference(
    env: WorkflowEnvironment, pool, settings
) -> None:
    async with quote_stack(env, pool, settings) as quotes:
        quote = await quotes.create(request("SUB-1002"), send=True)
        await quotes.accept(quote.number, bank_transfer=True)
        with pytest.raises(Refused) as refused:
            await quotes.pay(quote.number, rf_reference(quote.number), amount=quote.total - Decimal("12.34"))
        (answer,) = await record_transfers(quotes, [line(quote, quote.total + Decimal("0.50"))])
        shown = await quotes.show(quote.number)
    assert refused.value.rule == "R29" and "differs by EUR 12.34 (too little)" in refused.value.message
    assert (answer.status, answer.rule, answer.difference, answer.quote) == ("refused", "R29", "0.50", quote.number)
    assert (shown.state, shown.awaits_transfer, shown.payment) == (QuoteState.ACCEPTED, True, None)
    assert await scalar(pool, "SELECT count(*) FROM payments") == 0
    assert await scalar(pool, "SELECT count(*) FROM renewals") == 0


async def test_r29_an_unknown_reference_is_reported_never_guessed(env: WorkflowEnvironment, pool, settings) -> None:
    async with quote_stack(env, pool, settings) as quotes:
        quote = await quotes.create(request("SUB-1002"), send=True)
        await quotes.accept(quote.number, bank_transfer=True)
        # The right amount and currency, but a reference no quote has: never matched to this quote.
        answers = await record_transfers(quotes, [line(quote, reference=rf_reference("Q-999999"))])
        shown = await quotes.show(quote.number)
    assert [(a.status, a.quote) for a in answers] == [("unknown_reference", None)]
    assert answers[0].message == f"no quote has the reference {rf_reference('Q-999999')}"
    assert shown.state is QuoteState.ACCEPTED
    assert await scalar(pool, "SELECT count(*) FROM payments") == 0


async def test_r29_the_same_statement_line_twice_pays_once(env: WorkflowEnvironment, pool, settings) -> None:
    async with quote_stack(env, pool, settings) as quotes:
        quote = await quotes.create(request("SUB-1002"), send=True)
        await quotes.accept(quote.number, bank_transfer=True)
        first = await record_transfers(quotes, [line(quote), line(quote)], actor="api:bank")
        again = await record_transfers(quotes, [line(quote)], actor="api:bank")
        await quote_result(env.client, quote.number)
        shown = await quotes.show(quote.number)
    assert [a.status for a in first] == ["paid", "already_paid"]
    assert [a.status for a in again] == ["already_paid"]
    assert first[0].quote == quote.number
    await paid_once(pool, shown, quote.total, "EUR", method="offline")
    assert await scalar(pool, "SELECT count(*) FROM renewals") == 1
    assert await scalar(pool, "SELECT recorded_by FROM payments WHERE quote_number = %s", quote.number) == "api:bank"


async def test_r29_reminders_go_on_while_the_transfer_is_awaited(
    env: WorkflowEnvironment, pool, settings, mailbox
) -> None:
    async with quote_stack(env, pool, settings) as quotes:
        quote = await quotes.create(request("SUB-1002"), send=True)
        await quotes.accept(quote.number, bank_transfer=True)
        await skip_to_before_expiry(env, quote, 7)
        (pay,) = await until(lambda: _found(mailbox, "Reminder to pay:", 1), "a reminder to pay")
        body = next(m for m in mailbox.messages() if m["Subject"].startswith("Reminder to pay:"))
        text = body.get_body(("plain",)).get_content()
    assert quote.number in pay[1]
    assert "IBAN: NL91 ABNA 0417 1643 00" in text and "BIC: ABNANL2A" in text
    assert printed(rf_reference(quote.number)) in text
    assert subjects(mailbox, "Reminder:") == []


async def test_r29_unpaid_it_expires_and_releases_its_hold(env: WorkflowEnvironment, pool, settings) -> None:
    async with quote_stack(env, pool, settings) as quotes:
        quote = await quotes.create(request("SUB-1002"), send=True)
        await quotes.accept(quote.number, bank_transfer=True)
        await settled(env.client, quote.number)
        assert (await subscription_row(pool, "SUB-1002"))["held_by"] == [quote.number]
        await env.sleep(quote.expires_at - await env.get_current_time() + timedelta(minutes=1))
        ended = await quote_result(env.client, quote.number)
        late = await record_transfers(quotes, [line(quote)])
        await audit(env, pool)
    assert ended.state is QuoteState.EXPIRED
    assert (await subscription_row(pool, "SUB-1002"))["held_by"] == []
    assert (late[0].status, late[0].rule) == ("refused", "lifecycle")  # a late transfer is reported, not taken
    assert await scalar(pool, "SELECT count(*) FROM payments") == 0


async def test_r29_the_email_and_pdf_show_the_iban_and_the_rf_reference(
    env: WorkflowEnvironment, pool, settings, mailbox, gateway
) -> None:
    """The buyer chooses "Pay by bank transfer" on the quote's page: the page, the email and its PDF show the
    vendor's IBAN and BIC and the quote's RF reference."""
    import io

    from pypdf import PdfReader

    from tests.helpers import form_fields, link_of
    from tests.workflows.test_web import browser, sent_quote

    async with quote_stack(env, pool, settings, gateway=gateway) as quotes, browser(quotes, settings, gateway) as web:
        quote = await sent_quote(env, pool, settings, quotes, "SUB-1002")
        reference = printed(rf_reference(quote.number))
        page = await web.get(link_of(mailbox, quote.number))
        assert 'id="bank-transfer"' in page.text
        fields = form_fields(page.text, f"/quotes/{quote.number}/accept") | {"method": "bank_transfer"}
        shown = await web.post(f"/quotes/{quote.number}/accept", data=fields, follow_redirects=True)
        assert shown.status_code == 200 and "to be paid by bank transfer" in shown.text
        assert "NL91 ABNA 0417 1643 00" in shown.text and reference in shown.text
        assert 'id="bank-transfer"' not in shown.text  # chosen: the page says where to pay instead
        message = await until(
            lambda: _mail(mailbox, f"Pay by bank transfer: quote {quote.number}"), "the bank transfer's email"
        )
        await settled(env.client, quote.number)
    text = message.get_body(("plain",)).get_content()
    assert "IBAN: NL91 ABNA 0417 1643 00" in text and "BIC: ABNANL2A" in text
    assert f"Payment reference: {reference}" in text
    (attachment,) = list(message.iter_attachments())
    pdf = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(attachment.get_content())).pages)
    pdf = " ".join(pdf.split())
    assert "IBAN NL91 ABNA 0417 1643 00" in pdf and "BIC ABNANL2A" in pdf and reference in pdf


async def _mail(mailbox, subject: str):
    return next((m for m in mailbox.messages() if m["Subject"].startswith(subject)), None)
