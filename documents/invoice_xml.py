"""R28: an invoice's machine-readable twin, Factur-X / ZUGFeRD in the EN 16931 profile (UN/CEFACT CII), built
with drafthorse. A pure function of the issued invoice: the same invoice gives the same XML."""

from decimal import Decimal

from drafthorse.models.accounting import ApplicableTradeTax
from drafthorse.models.document import Document
from drafthorse.models.note import IncludedNote
from drafthorse.models.party import TaxRegistration
from drafthorse.models.tradelines import LineItem

from domain.invoices import Invoice
from domain.tax import NOTES, TaxLine

PROFILE = "urn:cen.eu:en16931:2017"
SCHEMA = "FACTUR-X_EN16931"
# UNTDID 1001: commercial invoice, credit note.
TYPE_CODES = {"invoice": "380", "credit_note": "381"}
# UNTDID 5305 and the VATEX exemption codes: standard rate, reverse charge, outside the EU (export).
CATEGORIES = {None: ("S", None), "reverse-charge": ("AE", "VATEX-EU-AE"), "outside-eu": ("G", "VATEX-EU-G")}
PIECES = "C62"  # UN/ECE Rec 20: one (a seat)


def _category(tax: TaxLine | None) -> tuple[str, str | None]:
    if tax is None or (tax.rate == 0 and tax.note is None):
        return "Z", None  # no tax data: zero rated
    return CATEGORIES[tax.note]


def facturx_xml(invoice: Invoice) -> bytes:
    """The invoice in CII XML (EN 16931); a credit note carries its amounts as positive numbers under 381."""
    sign = Decimal(-1) if invoice.kind == "credit_note" else Decimal(1)
    tax = invoice.tax[0] if invoice.tax else None
    category, exemption = _category(tax)
    rate = tax.rate if tax else Decimal(0)

    doc = Document()
    doc.context.guideline_parameter.id = PROFILE
    doc.header.id = invoice.number
    doc.header.type_code = TYPE_CODES[invoice.kind]
    doc.header.issue_date_time = invoice.issued_at.date()
    if tax is not None and tax.note:
        note = IncludedNote()
        note.content = NOTES[tax.note]
        doc.header.notes.add(note)

    seller = doc.trade.agreement.seller
    seller.name = invoice.seller.name or "-"
    seller.address.line_one = invoice.seller.address or "-"
    seller.address.country_id = invoice.seller.country or "NL"
    if invoice.seller.vat_number:
        seller.tax_registrations.add(TaxRegistration(id=("VA", invoice.seller.vat_number)))
    buyer = doc.trade.agreement.buyer
    buyer.name = invoice.buyer.name
    buyer.address.line_one = invoice.buyer.address
    buyer.address.country_id = invoice.buyer.country or invoice.seller.country or "NL"
    if invoice.buyer.vat_number:
        buyer.tax_registrations.add(TaxRegistration(id=("VA", invoice.buyer.vat_number)))
    if invoice.purchase_order:  # R27: the buyer's order reference (BT-13)
        doc.trade.agreement.buyer_order.issuer_assigned_id = invoice.purchase_order
    if invoice.refers_to:  # a credit note's invoice (BT-25)
        doc.trade.settlement.invoice_referenced_document.issuer_assigned_id = invoice.refers_to

    for number, line in enumerate(invoice.lines, start=1):
        item = LineItem()
        item.document.line_id = str(number)
        item.product.name = line.description + (f" ({line.subscription_id})" if line.subscription_id else "")
        net = sign * line.net_amount
        item.agreement.net.amount = net / line.seats if line.seats else net
        item.delivery.billed_quantity = (Decimal(line.seats), PIECES)
        item.settlement.trade_tax.type_code = "VAT"
        item.settlement.trade_tax.category_code = category
        item.settlement.trade_tax.rate_applicable_percent = rate
        item.settlement.monetary_summation.total_amount = net
        doc.trade.items.add(item)

    settlement = doc.trade.settlement
    settlement.currency_code = invoice.currency
    if invoice.payment_reference:
        settlement.payment_reference = invoice.payment_reference
    for tax_line in invoice.tax or []:
        trade_tax = ApplicableTradeTax()
        trade_tax.calculated_amount = sign * tax_line.amount
        trade_tax.basis_amount = sign * tax_line.base
        trade_tax.type_code = "VAT"
        trade_tax.category_code = category
        if exemption:
            trade_tax.exemption_reason = NOTES[tax_line.note] if tax_line.note else None
            trade_tax.exemption_reason_code = exemption
        trade_tax.rate_applicable_percent = tax_line.rate
        settlement.trade_tax.add(trade_tax)
    if not invoice.tax:
        trade_tax = ApplicableTradeTax()
        trade_tax.calculated_amount = Decimal(0)
        trade_tax.basis_amount = sign * invoice.total_net
        trade_tax.type_code = "VAT"
        trade_tax.category_code = category
        trade_tax.rate_applicable_percent = Decimal(0)
        settlement.trade_tax.add(trade_tax)
    totals = settlement.monetary_summation
    totals.line_total = sign * invoice.total_net
    totals.charge_total = Decimal(0)
    totals.allowance_total = Decimal(0)
    totals.tax_basis_total = sign * invoice.total_net
    totals.tax_total = (sign * invoice.tax_total, invoice.currency)
    totals.grand_total = sign * invoice.total
    totals.prepaid_total = sign * invoice.total  # paid when it was issued
    totals.due_amount = Decimal(0)
    return doc.serialize(schema=SCHEMA)
