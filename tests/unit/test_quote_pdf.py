"""The quote PDF (documents/quote_pdf.py) and the quote emails' language (activities/email.py), without a
server: the PDF's text read back with pypdf and checked against the quote, in English and Dutch; the same
quote gives the same bytes; each state says what to do next."""

import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from pypdf import PdfReader

from activities.email import WITH_PDF, render, subject
from documents import quote_pdf
from documents.i18n import Writer
from documents.quote_pdf import Vendor
from domain.pricing import price_lines
from domain.quotes import Quote, QuoteState
from tests.unit.test_quote_rules import NOW, TODAY, build
from workers.demo_data import DE_VRIES, demo_data

VENDOR = Vendor.of("Renewal quotes <quotes@renewals.example>", "https://quotes.example/")
SENT = NOW + timedelta(hours=1)
NBSP = "\xa0"


def sent(quote: Quote) -> Quote:
    """The quote priced from the demo price book and sent: as the workflow holds it."""
    data = demo_data(TODAY)
    priced = price_lines(quote.lines, data.prices, data.promotions, quote.currency, quote.kind, TODAY)
    return quote.model_copy(
        update={
            "lines": priced.lines,
            "subtotal": priced.subtotal,
            "discount_total": priced.discount_total,
            "total": priced.total,
            "state": QuoteState.SENT,
            "created_at": NOW,
            "sent_at": SENT,
            "expires_at": quote.expiry_for(SENT),
        }
    )


def acme() -> Quote:
    """The walkthrough's money example (docs/walkthrough-partners.md): EUR 14,607.00."""
    return sent(build("SUB-1001", "SUB-1002", seats={"SUB-1002": 2}, recipients=["cfo@acme.example"]))


def de_vries() -> Quote:
    return sent(build("SUB-2001", "SUB-2002", csn=DE_VRIES, origin="partner")).model_copy(update={"language": "nl"})


def text_of(pdf: bytes) -> str:
    """The PDF's text, a no-break space (Babel's, between `€` and the amount) read as a space."""
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages).replace(NBSP, " ")


def one_line(text: str) -> str:
    return " ".join(text.split())


def test_r22_pdf_has_vendor_number_dates_customer_recipients_lines_and_totals_in_english() -> None:
    quote = acme()
    assert quote.total == Decimal("14607.00")
    text = text_of(quote_pdf.render(quote, VENDOR))
    expires = quote.expires_at.date().isoformat()
    for expected in (
        "Renewal quotes",
        "quotes@renewals.example",
        f"Quote {quote.number}",
        f"Created {NOW.date().isoformat()}",
        f"Sent {SENT.date().isoformat()}",
        f"Valid until {expires}",
        "Customer Acme BV",
        "Keizersgracht 1",
        "Customer number (CSN) 5100000001",
        "Recipients buyer@acme.example, cfo@acme.example",
        "Subscription Product Seats Term Unit price Amount Promotion Discount",
        "SUB-1001 AutoCAD 5 annual EUR 2,030.00 EUR 10,150.00 RENEW10 -EUR 1,015.00",
        "SUB-1002 Revit 2 annual EUR 3,040.00 EUR 6,080.00 RENEW10 -EUR 608.00",
        "Subtotal EUR 16,230.00",
        "Discounts -EUR 1,623.00",
        "Total EUR 14,607.00",
        "How to accept and pay",
        "https://quotes.example/account",
    ):
        assert expected in text, expected


def test_r22_pdf_in_dutch_with_dutch_amounts_and_dates() -> None:
    quote = de_vries()
    w = Writer("nl")
    assert w.money(Decimal("14607"), "EUR") == f"€{NBSP}14.607,00"
    text = text_of(quote_pdf.render(quote, VENDOR))
    assert f"Offerte {quote.number}" in text
    assert f"Geldig tot {w.day(quote.expires_at)}" in text and "december 2026" in w.day(quote.expires_at)
    assert "Klant Bouwbedrijf De Vries" in text and "Gekocht via partner 5200000001" in text
    assert "Abonnement Product Licenties Looptijd" in text
    for line in quote.lines:
        dutch = f"{line.unit_price:,.2f}".translate(str.maketrans(",.", ".,"))  # 3,040.00 is 3.040,00
        row = f"{line.subscription_id} {line.product} {line.seats} jaarlijks € {dutch}"
        assert row in text, row
    assert "Subtotaal € 48.680,00" in text and "Kortingen -€ 4.868,00" in text and "Totaal € 43.812,00" in text
    assert quote.total == Decimal("43812.00")
    assert "Accepteren en betalen" in text and "Total " not in text


def test_r22_same_quote_same_bytes_and_another_quote_other_bytes() -> None:
    first, again = quote_pdf.render(acme(), VENDOR), quote_pdf.render(acme(), VENDOR)
    assert first == again and first.startswith(b"%PDF-")
    assert b"/CreationDate (D:20261126090000Z" in first  # the quote's creation, not the moment of rendering
    assert quote_pdf.render(acme().model_copy(update={"number": "Q-000002"}), VENDOR) != first
    assert quote_pdf.render(acme().model_copy(update={"language": "nl"}), VENDOR) != first


def test_r22_paid_pdf_shows_the_payment_reference() -> None:
    paid_at = SENT + timedelta(days=2)
    quote = acme().model_copy(
        update={"state": QuoteState.PAID, "accepted_at": paid_at, "paid_at": paid_at, "payment_reference": "BANK-42"}
    )
    text = one_line(text_of(quote_pdf.render(quote, VENDOR)))
    assert "Payment reference BANK-42" in text and f"Paid on {paid_at.date().isoformat()}" in text
    assert "How to accept and pay" not in text
    dutch = one_line(text_of(quote_pdf.render(quote.model_copy(update={"language": "nl"}), VENDOR)))
    assert "Betalingskenmerk BANK-42" in dutch and "betalingskenmerk BANK-42" in dutch


@pytest.mark.parametrize(
    ("update", "says"),
    [
        ({}, "Accept it before"),
        ({"state": QuoteState.ACCEPTED}, "This quote is accepted. Pay it by card before"),
        ({"state": QuoteState.ACCEPTED, "payment": "pending"}, "please do not pay again"),
        ({"state": QuoteState.DRAFT, "expires_at": None, "sent_at": None}, "Open the link in your quote email"),
        ({"state": QuoteState.EXPIRED}, "This quote has expired. Ask for a new quote."),
        (
            {"state": QuoteState.CANCELLED, "cancel_reason": "superseded by Q-000009"},
            "This quote is no longer valid: superseded by Q-000009.",
        ),
    ],
)
def test_r22_pdf_says_what_to_do_next_for_each_state(update: dict, says: str) -> None:
    quote = acme().model_copy(update=update)
    text = one_line(text_of(quote_pdf.render(quote, VENDOR)))
    assert says in text and quote.state.value in text


def test_r22_a_long_quote_runs_over_pages_each_numbered() -> None:
    quote = acme()
    many = quote.model_copy(update={"lines": quote.lines * 40})
    pages = PdfReader(io.BytesIO(quote_pdf.render(many, VENDOR))).pages
    assert len(pages) > 1
    assert all(f"{n}/{len(pages)}" in page.extract_text() for n, page in enumerate(pages, 1))
    assert "Total EUR 14,607.00" in pages[-1].extract_text()


def test_r22_characters_the_pdf_font_lacks_lose_their_accent_not_the_document() -> None:
    quote = acme().model_copy(update={"customer_name": "Bouwbedrijf Ştefănescu 桜", "address": "Łódź"})
    text = text_of(quote_pdf.render(quote, VENDOR))
    assert "Bouwbedrijf Stefanescu ?" in text and "Address Lódz" in text
    assert quote_pdf.plain("€ café – ü") == "€ café – ü"


def test_language_subjects_in_the_customers_language() -> None:
    english, dutch = acme(), acme().model_copy(update={"language": "nl"})
    day = english.expires_at.date()
    assert subject(english, "quote") == f"Renewal quote {english.number}: EUR 14,607.00, valid until {day}"
    nl_day = Writer("nl").day(day)
    assert subject(dutch, "quote") == f"Verlengingsofferte {dutch.number}: €{NBSP}14.607,00, geldig tot {nl_day}"
    assert subject(dutch, "paid") == f"Betaald: offerte {dutch.number}, €{NBSP}14.607,00"
    assert subject(dutch, "superseded") == f"Niet meer geldig: offerte {dutch.number}"
    assert subject(dutch, "reminder").startswith(f"Herinnering: offerte {dutch.number}")
    assert subject(dutch, "reminder").endswith(f"verloopt op {nl_day}")
    assert subject(dutch, "pay_reminder").startswith(f"Herinnering om te betalen: offerte {dutch.number}")


def test_language_dutch_email_bodies_and_the_attached_pdf() -> None:
    quote = acme().model_copy(update={"language": "nl"})
    pdf = quote_pdf.render(quote, VENDOR)
    message = render(quote, "reminder", "http://x/quotes/Q?token=t", "q@x", "buyer@acme.example", "<id@x>", "", pdf)
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert message["Content-Language"] == "nl" and '<html lang="nl">' in html
    for body in (text, html):
        assert "Beste Acme BV," in body and "Een herinnering: uw verlengingsofferte" in body
        assert f"€{NBSP}14.607,00" in body and "Accepteren en betalen" in body and "jaarlijks" in body
    assert "5 licenties" in text and "Totaal" in text and "Klantnummer (CSN): 5100000001" in text
    (attachment,) = message.iter_attachments()
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_filename() == f"{quote.number}.pdf" and attachment.get_content() == pdf


def test_r22_which_messages_carry_the_pdf() -> None:
    """The quote, its reminders, the bank transfer's details (R29) and the paid confirmation do; a superseded
    quote's message does not."""
    assert {"quote", "reminder", "pay_reminder", "paid", "transfer"} == WITH_PDF
    message = render(acme(), "superseded", None, "q@x", "buyer@acme.example", "<id@x>")
    assert list(message.iter_attachments()) == []


def test_language_writer_keeps_the_command_lines_forms_in_english() -> None:
    en, nl = Writer("en"), Writer("nl")
    at = datetime(2026, 12, 26, 3, 15, tzinfo=UTC)
    assert (en.money(Decimal("14607"), "EUR"), en.day(at), en.moment(at)) == (
        "EUR 14,607.00",
        "2026-12-26",
        "2026-12-26 03:15 UTC",
    )
    assert (nl.money(Decimal("14607"), "EUR"), nl.day(at), nl.moment(at)) == (
        f"€{NBSP}14.607,00",
        "26 december 2026",
        "26 december 2026 03:15 UTC",
    )
    assert nl.money(Decimal("2800000"), "JPY").endswith(f"{NBSP}2.800.000") and en.money(None, "EUR") == "-"
    assert Writer("de").language == "en"


def awaiting_transfer(quote: Quote) -> Quote:
    from domain.bank_transfer import rf_reference

    return quote.model_copy(update={"state": QuoteState.ACCEPTED, "transfer_reference": rf_reference(quote.number)})


def test_r29_pdf_and_email_of_a_quote_awaiting_a_transfer_show_the_iban_bic_and_rf_reference() -> None:
    from domain.bank_transfer import printed

    vendor = Vendor.of(
        "Renewal quotes <quotes@renewals.example>", "https://quotes.example/", ("NL91ABNA0417164300", "ABNANL2A")
    )
    quote = awaiting_transfer(acme())
    reference = printed(quote.transfer_reference or "")
    pdf = one_line(text_of(quote_pdf.render(quote, vendor)))
    assert "IBAN NL91 ABNA 0417 1643 00" in pdf and "BIC ABNANL2A" in pdf and reference in pdf
    message = render(quote, "transfer", None, "q@x", "buyer@acme.example", "<id@x>", vendor=vendor)
    text = message.get_body(("plain",)).get_content()
    assert "IBAN: NL91 ABNA 0417 1643 00" in text and f"Payment reference: {reference}" in text
    assert message["Subject"].startswith(f"Pay by bank transfer: quote {quote.number}")
    dutch = one_line(text_of(quote_pdf.render(awaiting_transfer(de_vries()), vendor)))
    assert "betalingskenmerk" in dutch and "NL91 ABNA 0417 1643 00" in dutch
    # Not awaiting a transfer (or no account configured): no account printed.
    assert "IBAN" not in one_line(text_of(quote_pdf.render(acme(), vendor)))
    assert "IBAN" not in one_line(text_of(quote_pdf.render(quote, VENDOR)))
