"""R28: the invoices and credit notes issued, for the bookkeeper (list, show, export) and the API."""

import csv
import io
from datetime import date

from domain.errors import NotFound
from domain.invoices import Invoice
from store.invoices import get_invoice, invoice_of, invoices_of_year
from store.pool import Pool

# The bookkeeper's export: one row per invoice or credit note, in number order, amounts as decimal strings.
EXPORT_COLUMNS = [
    "number",
    "kind",
    "issued_on",
    "quote",
    "refers_to",
    "buyer",
    "buyer_csn",
    "buyer_country",
    "buyer_vat_number",
    "currency",
    "total_net",
    "tax_rate",
    "tax_note",
    "tax_total",
    "total",
    "payment_reference",
    "purchase_order",
]


class InvoiceService:
    def __init__(self, pool: Pool) -> None:
        self.pool = pool

    async def of_year(
        self, year: int | None = None, limit: int | None = None, starting_after: str | None = None
    ) -> list[Invoice]:
        async with self.pool.connection() as conn:
            return await invoices_of_year(conn, year or date.today().year, limit, starting_after)

    async def show(self, number: str) -> Invoice:
        async with self.pool.connection() as conn:
            found = await get_invoice(conn, number[:40])
        if found is None:
            raise NotFound(f"unknown invoice {number[:40]}")
        return found

    async def of_quote(self, quote_number: str) -> Invoice | None:
        async with self.pool.connection() as conn:
            return await invoice_of(conn, quote_number)

    async def export_csv(self, year: int | None = None) -> str:
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=EXPORT_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for invoice in await self.of_year(year):
            tax = invoice.tax[0] if invoice.tax else None
            writer.writerow(
                {
                    "number": invoice.number,
                    "kind": invoice.kind,
                    "issued_on": invoice.issued_at.date().isoformat(),
                    "quote": invoice.quote_number,
                    "refers_to": invoice.refers_to or "",
                    "buyer": invoice.buyer.name,
                    "buyer_csn": invoice.buyer.csn or "",
                    "buyer_country": invoice.buyer.country or "",
                    "buyer_vat_number": invoice.buyer.vat_number or "",
                    "currency": invoice.currency,
                    "total_net": str(invoice.total_net),
                    "tax_rate": format(tax.rate.normalize(), "f") if tax else "",
                    "tax_note": tax.note or "" if tax else "",
                    "tax_total": str(invoice.tax_total),
                    "total": str(invoice.total),
                    "payment_reference": invoice.payment_reference or "",
                    "purchase_order": invoice.purchase_order or "",
                }
            )
        return out.getvalue()
