"""The quote PDF and the customer's language on real parts: the worker on the time-skipping server, PostgreSQL,
the aiosmtpd mailbox, the buyer app and the API through their HTTP interfaces. The PDF the email carries is
the one the quote link and the API serve; a link that may not open the quote's page may not open its PDF."""

import io
import re
from datetime import timedelta

import httpx
import pytest
from pypdf import PdfReader
from temporalio.testing import WorkflowEnvironment

from documents import quote_pdf
from documents.i18n import Writer
from domain.links import LinkSigner
from domain.money import format_money
from runtime.app import open_app
from runtime.settings import parse_api_keys
from tests.helpers import BASE, link_of, quote_result, quote_stack, request, settled, until
from web.api import create_api
from web.app import create_app
from web.documents import DEFAULT_VENDOR, vendor_of
from workers.demo_data import DE_VRIES

pytestmark = pytest.mark.asyncio(loop_scope="session")

CFO = "cfo@acme.example"
NBSP = "\xa0"
READ_KEY = "rk_pdf_reader"


def pdf_text(pdf: bytes) -> str:
    """The PDF's text, a no-break space (Babel's, between `€` and the amount) read as a space."""
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages).replace(NBSP, " ")


def attachment_of(message) -> bytes:
    """The quote's PDF (`Q-….pdf`); a paid email also carries the invoice (R28)."""
    (attached,) = [part for part in message.iter_attachments() if part.get_filename().startswith("Q-")]
    assert attached.get_content_type() == "application/pdf"
    assert re.fullmatch(r"Q-\d{6,}\.pdf", attached.get_filename()), attached.get_filename()
    assert attached.get_filename() == f"{message['X-Quote-Number']}.pdf"
    return attached.get_content()


def pdf_path(link: str) -> str:
    """`/quotes/Q-000001?token=...` as the PDF's address: the same token, `.pdf` after the number."""
    return re.sub(r"^(/quotes/Q-\d+)\?", r"\1.pdf?", link)


async def test_r22_quote_email_carries_the_pdf_with_number_lines_and_totals(
    env: WorkflowEnvironment, pool, settings, mailbox
) -> None:
    async with quote_stack(env, pool, settings) as quotes:
        quote = await quotes.create(request("SUB-1001", "SUB-1002", seats={"SUB-1002": 2}, recipients=[CFO]), send=True)
        await settled(env.client, quote.number)
        shown = await quotes.show(quote.number)
    messages = [m for m in mailbox.messages() if quote.number in m["Subject"]]
    assert sorted(m["To"] for m in messages) == ["buyer@acme.example", CFO]
    pdfs = {attachment_of(m) for m in messages}
    assert len(pdfs) == 1, "every recipient gets the same document"
    (pdf,) = pdfs
    assert pdf == quote_pdf.render(shown, DEFAULT_VENDOR), "the document the link and the API serve"
    text = pdf_text(pdf)
    money = lambda amount: format_money(amount, "EUR")  # noqa: E731
    assert f"Quote {quote.number}" in text and "Customer Acme BV" in text and f"buyer@acme.example, {CFO}" in text
    assert f"Valid until {shown.expires_at:%Y-%m-%d %H:%M} UTC" in text
    for line in shown.lines:
        row = (
            f"{line.subscription_id} {line.product} {line.seats} {line.term.value} {money(line.unit_price)} "
            f"{money(line.amount)} {line.promotion} -{money(line.discount)}"
        )
        assert row in text, row
    assert f"Subtotal {money(shown.subtotal)}" in text and f"Discounts -{money(shown.discount_total)}" in text
    assert f"Total {money(shown.total)}" in text and money(shown.total) == "EUR 14,607.00"
    body = messages[0].get_body(("plain",)).get_content()
    assert f"The quote is attached as a PDF ({quote.number}.pdf)." in body


async def test_language_de_vries_gets_its_quote_reminder_and_paid_emails_and_pdfs_in_dutch(
    env: WorkflowEnvironment, pool, settings, mailbox
) -> None:
    """Bouwbedrijf De Vries has `"language": "nl"` in the demo data: every message of its quote, and the PDF
    each one carries, is Dutch, with Dutch amounts and dates."""
    nl = Writer("nl")
    async with quote_stack(env, pool, settings) as quotes:
        quote = await quotes.create(request("SUB-2001", csn=DE_VRIES, origin="partner"), send=True)
        assert quote.language == "nl"
        await settled(env.client, quote.number)
        total, expires = nl.money(quote.total, "EUR"), nl.day(quote.expires_at)
        assert re.fullmatch(rf"€{NBSP}\d{{1,3}}(\.\d{{3}})*,\d\d", total) and re.fullmatch(
            r"\d{1,2} \w+ 20\d\d", expires
        )

        (sent,) = mailbox.messages()
        assert sent["Subject"] == f"Verlengingsofferte {quote.number}: {total}, geldig tot {expires}"
        body = sent.get_body(("plain",)).get_content()
        assert "Beste Bouwbedrijf De Vries," in body and f"Totaal:     {total} (exclusief btw)" in body
        assert "Accepteren en betalen: http://localhost:8000/quotes/" in body
        text = pdf_text(attachment_of(sent))
        assert f"Offerte {quote.number}" in text and f"Geldig tot {expires}" in text
        assert f"SUB-2001 Revit 8 jaarlijks {nl.money(quote.lines[0].unit_price, 'EUR')}".replace(NBSP, " ") in text
        assert f"Totaal {total}".replace(NBSP, " ") in text

        await settled(env.client, quote.number)
        await env.sleep(quote.expires_at - timedelta(days=7, minutes=-1) - await env.get_current_time())
        reminders = await until(
            lambda: _subjects_starting(mailbox, f"Herinnering: offerte {quote.number}"), "a Dutch reminder"
        )
        assert reminders[0]["Subject"].endswith(f"verloopt op {expires}")
        assert "Een herinnering: uw verlengingsofferte" in reminders[0].get_body(("plain",)).get_content()
        assert f"Offerte {quote.number}" in pdf_text(attachment_of(reminders[0]))

        await quotes.accept(quote.number, pay=True, reference="BANK-7")
        await quote_result(env.client, quote.number)
    (paid,) = [m for m in mailbox.messages() if m["Subject"] == f"Betaald: offerte {quote.number}, {total}"]
    assert "Betalingskenmerk: BANK-7" in paid.get_body(("plain",)).get_content()
    text = pdf_text(attachment_of(paid))
    assert "Betalingskenmerk BANK-7" in text and "betaald" in text and "Accepteren en betalen" not in text


async def _subjects_starting(mailbox, start: str):
    return [m for m in mailbox.messages() if m["Subject"].startswith(start)] or None


async def test_r22_the_quote_link_opens_its_pdf_and_another_quotes_link_is_refused(
    env: WorkflowEnvironment, pool, settings, mailbox, gateway
) -> None:
    async with quote_stack(env, pool, settings, gateway=gateway) as quotes:
        first = await quotes.create(request("SUB-1001", recipients=[CFO]), send=True)
        second = await quotes.create(request("SUB-1002"), send=True)
        for quote in (first, second):
            await settled(env.client, quote.number)
        app = create_app(lambda: quotes, LinkSigner(settings.require_link_secrets()), lambda: gateway)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as web:
            link = link_of(mailbox, first.number)
            page = await web.get(link)
            assert page.status_code == 200 and f'href="/quotes/{first.number}.pdf?token=' in page.text
            answer = await web.get(pdf_path(link))
            assert answer.status_code == 200 and answer.headers["content-type"] == "application/pdf"
            assert answer.headers["content-disposition"] == f'inline; filename="{first.number}.pdf"'
            assert answer.headers["cache-control"] == "no-store"
            assert answer.content == quote_pdf.render(await quotes.show(first.number), DEFAULT_VENDOR)
            assert answer.content == attachment_of(
                next(m for m in mailbox.messages() if first.number in m["Subject"] and m["To"] == CFO)
            )

            others = link_of(mailbox, second.number)
            token = others.split("token=", 1)[1]
            refused = [
                await web.get(f"/quotes/{first.number}.pdf?token={token}"),  # another quote's link
                await web.get(f"/quotes/{first.number}.pdf"),  # no link at all
                await web.get(f"/quotes/{first.number}.pdf?token=forged"),
            ]
            assert [r.status_code for r in refused] == [403, 403, 403]
            assert all(r.headers["content-type"].startswith("text/html") and b"%PDF" not in r.content for r in refused)
            assert (await web.get(f"/quotes/{first.number}", params={"token": token})).status_code == 403
            assert (await web.get(pdf_path(others))).status_code == 200


async def test_r22_api_gives_the_pdf_to_a_read_key(env: WorkflowEnvironment, pool, settings, mailbox, gateway) -> None:
    async with quote_stack(env, pool, settings, gateway=gateway) as quotes:
        quote = await quotes.create(request("SUB-1001"), send=True)
        await settled(env.client, quote.number)
        today = (await env.get_current_time()).date()
        async with open_app(settings, pool=pool, client=env.client, today=today) as opened:
            app = create_app(
                lambda: opened.quotes,
                LinkSigner(settings.require_link_secrets()),
                lambda: gateway,
                api=create_api(lambda: opened, parse_api_keys(f"reader:{READ_KEY}:read")),
                vendor=vendor_of(settings),
            )
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as http:
                auth = {"Authorization": f"Bearer {READ_KEY}"}
                answer = await http.get(f"/api/v1/quotes/{quote.number}/pdf", headers=auth)
                unknown = await http.get("/api/v1/quotes/Q-999999999/pdf", headers=auth)
                stranger = await http.get(f"/api/v1/quotes/{quote.number}/pdf")
                spec = (await http.get("/api/v1/openapi.json")).json()
                pdf = quote_pdf.render(await quotes.show(quote.number), vendor_of(settings))
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/pdf"
    assert answer.content == pdf == attachment_of(mailbox.messages()[0])
    assert f"Quote {quote.number}" in pdf_text(answer.content)
    assert (unknown.status_code, stranger.status_code) == (404, 401)
    assert "error" in unknown.json() and "error" in stranger.json()
    operation = spec["paths"]["/quotes/{number}/pdf"]["get"]
    assert operation["responses"]["200"]["content"]["application/pdf"]["schema"] == {
        "type": "string",
        "format": "binary",
    }
    assert {"401", "404", "503"} <= set(operation["responses"])
    assert set(operation["responses"]["404"]["content"]) == {"application/json"}
