"""R28 tax on real parts (the time-skipping server, the worker, PostgreSQL, SMTP): a Dutch customer pays 21% VAT,
a German business with a VAT number is reverse charged, a Japanese customer in yen pays 0% outside the EU. The
quote, its email and PDF show the tax; the card is charged the total including tax, a bank transfer must bring
it, and the audit agrees."""

import io
from datetime import timedelta
from decimal import Decimal

import pytest
from pypdf import PdfReader
from temporalio.testing import WorkflowEnvironment

from documents import quote_pdf
from documents.quote_pdf import Vendor as PdfVendor
from domain.bank_transfer import rf_reference
from domain.errors import Refused
from domain.quotes import QuoteState
from payments.gateway import Card
from tests.helpers import audit, money, quote_result, quote_stack, request, settled
from workers.demo_data import ACME, SAKURA, SCHMIDT, with_tax

pytestmark = pytest.mark.asyncio(loop_scope="session")


def taxed(data):
    """The demo data with the vendor, its rates and the customers' countries; dated as the demo data is (from
    the server's clock: SUB-1001 ends 20 days after it)."""
    today = next(s for s in data.subscriptions if s.id == "SUB-1001").end_date - timedelta(days=20)
    return with_tax(data, today)


def pdf_text(quote) -> str:
    content = quote_pdf.render(quote, PdfVendor.of("Renewals <q@r.example>", "http://localhost:8000"))
    return " ".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


async def test_r28_a_dutch_customer_pays_21_percent_vat_and_is_charged_the_total_including_it(
    env: WorkflowEnvironment, pool, settings, mailbox, gateway
) -> None:
    async with quote_stack(env, pool, settings, gateway=gateway, data=taxed) as quotes:
        quote = await quotes.create(request("SUB-1001"), send=True)
        assert (quote.total, quote.tax_total, quote.amount_due) == (
            Decimal("9135.00"),
            Decimal("1918.35"),
            Decimal("11053.35"),
        )
        view = quote.json_view()
        assert view["tax"] == [{"rate": "21", "base": "9135.00", "amount": "1918.35", "note": None}]
        assert (view["tax_total"], view["total_including_tax"]) == ("1918.35", "11053.35")
        await settled(env.client, quote.number)
        card = Card(holder="A. Buyer", number="4242 4242 4242 4242", expiry="12/29", cvc="123")
        paid = await quotes.accept(quote.number, pay=True, payment_method=await gateway.tokenize(card))
        await quote_result(env.client, quote.number)
        recorded = await money(pool, quote.number)
        await audit(env, pool, gateway)
    assert paid.state is QuoteState.PAID
    assert [p["amount"] for p in recorded["payments"]] == [Decimal("11053.35")]
    charged = await gateway.find(f"quote-{quote.number}")
    assert charged is not None and charged.amount == Decimal("11053.35")
    mail = next(m for m in mailbox.messages() if m["Subject"].startswith(f"Renewal quote {quote.number}"))
    text = mail.get_body(("plain",)).get_content()
    assert "VAT 21%: EUR 1,918.35" in text and "Total including tax: EUR 11,053.35" in text
    assert "EUR 11,053.35" in mail["Subject"]
    shown = pdf_text(paid)
    assert "VAT 21%" in shown and "Total including tax" in shown and "11,053.35" in shown


async def test_r28_a_german_business_is_reverse_charged_and_a_japanese_customer_pays_0_outside_the_eu(
    env: WorkflowEnvironment, pool, settings, mailbox, gateway
) -> None:
    async with quote_stack(env, pool, settings, gateway=gateway, data=taxed) as quotes:
        german = await quotes.create(request("SUB-4001", csn=SCHMIDT), send=True)
        japanese = await quotes.create(request("SUB-3004", csn=SAKURA), send=True)
        await settled(env.client, german.number)
        await settled(env.client, japanese.number)
    assert german.json_view()["tax"] == [
        {"rate": "0", "base": str(german.total), "amount": "0.00", "note": "VAT reverse charge"}
    ]
    assert german.amount_due == german.total
    assert japanese.json_view()["tax"] == [
        {"rate": "0", "base": str(japanese.total), "amount": "0", "note": "outside the scope of EU VAT"}
    ]
    assert "VAT 0% (VAT reverse charge)" in pdf_text(german)
    dutch = next(m for m in mailbox.messages() if m["To"] == "kobai@sakura.example")
    assert "outside the scope of EU VAT" in dutch.get_body(("plain",)).get_content()


async def test_r28_r29_a_bank_transfer_must_bring_the_total_including_tax(
    env: WorkflowEnvironment, pool, settings, mailbox, gateway
) -> None:
    async with quote_stack(env, pool, settings, gateway=gateway, data=taxed) as quotes:
        quote = await quotes.create(request("SUB-1001", csn=ACME), send=True)
        await quotes.accept(quote.number, bank_transfer=True)
        with pytest.raises(Refused) as net_only:
            await quotes.pay(quote.number, rf_reference(quote.number), amount=quote.total, currency="EUR")
        paid = await quotes.pay(quote.number, rf_reference(quote.number), amount=quote.amount_due, currency="EUR")
        await quote_result(env.client, quote.number)
        await audit(env, pool, gateway)
    assert net_only.value.rule == "R29" and "differs by EUR 1,918.35 (too little)" in net_only.value.message
    assert paid.state is QuoteState.PAID
