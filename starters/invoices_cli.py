"""`renewals invoices ...` (R28): the invoices and credit notes issued, and the bookkeeper's export."""

import click
from tabulate import tabulate

from domain.money import format_money
from services.invoices import InvoiceService
from starters import output
from starters.base import cli, json_option, with_app


@cli.group()
def invoices() -> None:
    """Invoices and credit notes (R28), numbered INV-<year>-<n> with no gap."""


def _service(app) -> InvoiceService:
    return InvoiceService(app.pool)


@invoices.command(name="list")
@click.option("--year", type=int, help="The year (default: this year).")
@json_option
def list_(year: int | None, as_json: bool) -> None:
    """Every invoice and credit note of a year, in number order."""
    found = with_app(lambda app: _service(app).of_year(year), pool_size=1)
    text = (
        tabulate(
            [
                [
                    i.number,
                    i.kind.replace("_", " "),
                    i.issued_at.date().isoformat(),
                    i.quote_number,
                    i.buyer.name,
                    format_money(i.total_net, i.currency),
                    format_money(i.tax_total, i.currency),
                    format_money(i.total, i.currency),
                ]
                for i in found
            ],
            headers=["NUMBER", "KIND", "ISSUED", "QUOTE", "BUYER", "NET", "TAX", "TOTAL"],
        )
        if found
        else "no invoices"
    )
    output.emit(as_json, [i.json_view() for i in found], text)


@invoices.command()
@click.argument("number")
@json_option
def show(number: str, as_json: bool) -> None:
    """One invoice or credit note."""
    invoice = with_app(lambda app: _service(app).show(number), pool_size=1)
    lines = [
        f"{invoice.kind.replace('_', ' ').capitalize()} {invoice.number} · quote {invoice.quote_number}"
        + (f" · refers to {invoice.refers_to}" if invoice.refers_to else ""),
        f"issued      {invoice.issued_at.strftime('%Y-%m-%d %H:%M UTC')}",
        f"seller      {invoice.seller.name} · VAT {invoice.seller.vat_number or '-'}",
        f"buyer       {invoice.buyer.name} ({invoice.buyer.csn}) · {invoice.buyer.country or '-'}"
        + (f" · VAT {invoice.buyer.vat_number}" if invoice.buyer.vat_number else ""),
        f"net         {format_money(invoice.total_net, invoice.currency)}",
        *[f"tax         {format_money(t.amount, invoice.currency)} · {t.label}" for t in invoice.tax],
        f"total       {format_money(invoice.total, invoice.currency)}",
    ]
    if invoice.purchase_order:
        lines.append(f"PO number   {invoice.purchase_order}")
    output.emit(as_json, invoice.json_view(), "\n".join(lines))


@invoices.command()
@click.option("--year", type=int, help="The year (default: this year).")
@click.option("--format", "fmt", type=click.Choice(["csv"]), default="csv", show_default=True)
def export(year: int | None, fmt: str) -> None:
    """The bookkeeper's export: one CSV row per invoice and credit note, in number order."""
    click.echo(with_app(lambda app: _service(app).export_csv(year), pool_size=1), nl=False)
