"""R28: an invoice (or a credit note) as issued: who sells and buys, what, the tax per rate, the totals, how it
was paid. Built once from the quote and the data at the moment the payment is recorded, and never changed."""

from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel

from domain.models import Customer, Vendor
from domain.quotes import Quote
from domain.tax import NOTES, TaxLine, percent

InvoiceKind = Literal["invoice", "credit_note"]


class Party(BaseModel):
    name: str
    address: str
    country: str | None = None
    vat_number: str | None = None
    csn: str | None = None


class InvoiceLine(BaseModel):
    description: str
    subscription_id: str | None
    seats: int
    term: str
    net_amount: Decimal  # the line's amount less its discount, before tax


class Invoice(BaseModel):
    number: str  # INV-2026-000001: one gapless sequence per year, invoices and credit notes together
    kind: InvoiceKind
    quote_number: str
    refers_to: str | None = None  # a credit note's invoice
    issued_at: datetime
    language: str
    currency: str
    seller: Party
    buyer: Party
    lines: list[InvoiceLine]
    tax: list[TaxLine]
    total_net: Decimal
    tax_total: Decimal
    total: Decimal  # including tax
    payment_reference: str | None = None
    purchase_order: str | None = None  # R27

    def json_view(self) -> dict:
        return {
            "number": self.number,
            "kind": self.kind,
            "quote": self.quote_number,
            "refers_to": self.refers_to,
            "issued_at": self.issued_at.isoformat(),
            "currency": self.currency,
            "seller": self.seller.model_dump(),
            "buyer": self.buyer.model_dump(),
            "lines": [{**line.model_dump(), "net_amount": str(line.net_amount)} for line in self.lines],
            "tax": [
                {
                    "rate": percent(t.rate),
                    "base": str(t.base),
                    "amount": str(t.amount),
                    "note": NOTES[t.note] if t.note else None,
                }
                for t in self.tax
            ],
            "total_net": str(self.total_net),
            "tax_total": str(self.tax_total),
            "total": str(self.total),
            "payment_reference": self.payment_reference,
            "purchase_order": self.purchase_order,
        }


def invoice_of(
    quote: Quote, vendor: Vendor | None, customer: Customer | None, at: datetime, payment_reference: str | None
) -> Invoice:
    """The invoice of a paid quote, not yet numbered (the store numbers it in the payment's transaction)."""
    sign = Decimal(1)
    return Invoice(
        number="",
        kind="invoice",
        quote_number=quote.number,
        issued_at=at,
        language=quote.language,
        currency=quote.currency,
        seller=Party(
            name=vendor.name if vendor else "",
            address=vendor.address if vendor else "",
            country=vendor.country if vendor else None,
            vat_number=vendor.vat_number if vendor else None,
        ),
        buyer=Party(
            name=quote.customer_name,
            address=quote.address,
            country=customer.country if customer else None,
            vat_number=customer.vat_number if customer else None,
            csn=quote.csn,
        ),
        lines=[
            InvoiceLine(
                description=line.product,
                subscription_id=line.subscription_id,
                seats=line.seats,
                term=line.term.value,
                net_amount=sign * ((line.amount or Decimal(0)) - line.discount),
            )
            for line in quote.lines
        ],
        tax=quote.tax,
        total_net=quote.total,
        tax_total=quote.tax_total,
        total=quote.amount_due,
        payment_reference=payment_reference,
        purchase_order=quote.purchase_order,
    )


def credit_note_of(invoice: Invoice, at: datetime) -> Invoice:
    """R28: a refund's credit note: the invoice's lines and tax with the opposite sign, referring to it."""
    return invoice.model_copy(
        update={
            "number": "",
            "kind": "credit_note",
            "refers_to": invoice.number,
            "issued_at": at,
            "lines": [line.model_copy(update={"net_amount": -line.net_amount}) for line in invoice.lines],
            "tax": [t.model_copy(update={"base": -t.base, "amount": -t.amount}) for t in invoice.tax],
            "total_net": -invoice.total_net,
            "tax_total": -invoice.tax_total,
            "total": -invoice.total,
        }
    )
