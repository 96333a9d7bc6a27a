"""R28: the invoice or credit note as a PDF (the quote PDF's stack, fpdf2) in the customer's language, with its
Factur-X XML (EN 16931) embedded by the factur-x library, which checks it against the schema it ships. The same
invoice gives the same document."""

import re
from datetime import UTC

from facturx import generate_from_binary
from fpdf.enums import XPos, YPos

from documents.i18n import Writer
from documents.invoice_xml import facturx_xml
from documents.quote_pdf import GREY, Page
from documents.tax_words import TAX_NOTES
from domain.invoices import Invoice
from domain.tax import percent


def _(message: str) -> str:
    """Marks a text for the catalog (`make messages`); `Writer.gettext` translates it where it is written."""
    return message


def filename(invoice: Invoice) -> str:
    return f"{invoice.number}.pdf"


def render(invoice: Invoice) -> bytes:
    """The document a buyer's accounts department books: seller and buyer with their VAT numbers, the lines,
    the tax per rate, the totals, the payment reference and purchase order, and the XML inside."""
    w = Writer(invoice.language)
    t = w.gettext
    title = (t(_("Credit note %(number)s")) if invoice.kind == "credit_note" else t(_("Invoice %(number)s"))) % {
        "number": invoice.number
    }
    pdf = Page(f"{invoice.seller.name} · {title}")
    pdf.set_creation_date(invoice.issued_at)
    pdf.set_title(title)
    pdf.set_author(invoice.seller.name)
    pdf.set_subject(invoice.buyer.name)
    pdf.set_creator("renewal-quotes")
    pdf.set_lang(w.language)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(100, 8, invoice.seller.name)
    pdf.cell(0, 8, title, align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("Helvetica", size=9)
    pdf.set_text_color(*GREY)
    pdf.multi_cell(0, 5, f"{invoice.seller.address} · {t(_('VAT number'))} {invoice.seller.vat_number or '-'}")
    pdf.set_text_color(0, 0, 0)
    pdf.ln(4)
    facts = [
        (t(_("Date")), w.day(invoice.issued_at)),
        (t(_("Quote number")), invoice.quote_number),
        (t(_("Customer")), invoice.buyer.name),
        (t(_("Address")), invoice.buyer.address),
        (t(_("Customer number (CSN)")), invoice.buyer.csn or "-"),
    ]
    if invoice.buyer.vat_number:
        facts.append((t(_("VAT number")), invoice.buyer.vat_number))
    if invoice.refers_to:
        facts.append((t(_("Credits invoice")), invoice.refers_to))
    if invoice.purchase_order:  # R27
        facts.append((t(_("Purchase order")), invoice.purchase_order))
    if invoice.payment_reference:
        facts.append((t(_("Payment reference")), invoice.payment_reference))
    for label, value in facts:
        pdf.set_font("Helvetica", "B", 9)
        pdf.cell(45, 6, label)
        pdf.set_font("Helvetica", size=9)
        pdf.multi_cell(0, 6, value, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(4)
    pdf.set_font("Helvetica", "B", 9)
    for width, head in ((95, t(_("Product"))), (25, t(_("Seats"))), (25, t(_("Term"))), (35, t(_("Amount")))):
        pdf.cell(width, 7, head, border="B")
    pdf.ln()
    pdf.set_font("Helvetica", size=9)
    for line in invoice.lines:
        name = line.description + (f" ({line.subscription_id})" if line.subscription_id else "")
        pdf.cell(95, 6, name)
        pdf.cell(25, 6, str(line.seats))
        pdf.cell(25, 6, t(line.term))
        pdf.cell(35, 6, w.money(line.net_amount, invoice.currency), align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(3)
    rows = [(t(_("Total before tax")), w.money(invoice.total_net, invoice.currency), "")]
    for tax in invoice.tax:
        label = t(_("VAT %(rate)s%%")) % {"rate": percent(tax.rate)} + t(_(" on %(base)s")) % {
            "base": w.money(tax.base, invoice.currency)
        }
        if tax.note:
            label = f"{label} ({t(TAX_NOTES[tax.note])})"
        rows.append((label, w.money(tax.amount, invoice.currency), ""))
    rows.append((t(_("Total including tax")), w.money(invoice.total, invoice.currency), "B"))
    for label, amount, style in rows:
        pdf.set_x(70)
        pdf.set_font("Helvetica", style, 10 if style else 9)
        pdf.cell(90, 6, label)
        pdf.cell(35, 6, amount, align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(4)
    pdf.set_font("Helvetica", size=8)
    pdf.set_text_color(*GREY)
    pdf.multi_cell(0, 4.5, t(_("Paid. This document carries its Factur-X (EN 16931) XML for your bookkeeping.")))
    document = generate_from_binary(
        bytes(pdf.output()),
        facturx_xml(invoice),
        flavor="factur-x",
        level="en16931",
        check_xsd=True,
        lang=w.language,
        xmp_compression=False,
    )
    return _dated(document, invoice)


# factur-x stamps the PDF's metadata, its XMP and the embedded XML's entry with the clock at the time of writing
# and takes no date: each stamp is set to the invoice's issue time instead, so the same invoice gives the same
# bytes. The stamps are UTC and of fixed width (a PDF string writes `D:` as `D:` or `D\072`), so no offset in
# the PDF moves; the XMP is left uncompressed for this.
_PDF_STAMP = re.compile(rb"(D(?::|\\072))\d{14}")
_XMP_STAMP = re.compile(rb"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?=\+00:00)")


def _dated(document: bytes, invoice: Invoice) -> bytes:
    issued = invoice.issued_at.astimezone(UTC)
    digits = issued.strftime("%Y%m%d%H%M%S").encode()
    document = _PDF_STAMP.sub(lambda stamp: stamp.group(1) + digits, document)
    return _XMP_STAMP.sub(issued.strftime("%Y-%m-%dT%H:%M:%S").encode(), document)
