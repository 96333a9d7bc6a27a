"""R28: the tax on a quote, decided from data (the vendor's country, the customer's country and VAT number,
and the price list's dated rates), never from rates in code.

- At home (the customer in the vendor's country): the vendor's country rate.
- Inside the EU, a business with a valid VAT number: 0%, "VAT reverse charge".
- Inside the EU without one: the customer's country rate (one-stop shop); the data must have it.
- Outside the EU: 0%, "outside the scope of EU VAT".
- No vendor in the data (a file from before R28): no tax.

Amounts are Decimal, rounded half-up to the currency's minor unit once per rate."""

from datetime import date
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel
from stdnum.eu.vat import MEMBER_STATES

from domain.models import Customer, TaxRate, Vendor
from domain.money import round_money

TaxNote = Literal["reverse-charge", "outside-eu"]
NOTES: dict[str, str] = {
    "reverse-charge": "VAT reverse charge",
    "outside-eu": "outside the scope of EU VAT",
}


class TaxLine(BaseModel):
    """The tax of one rate: its rate in percent, the amount it is on, the tax, and why it is 0 when it is."""

    rate: Decimal
    base: Decimal
    amount: Decimal
    note: TaxNote | None = None
    country: str | None = None  # whose rate it is

    @property
    def label(self) -> str:
        """`VAT 21%`, `VAT 0% (VAT reverse charge)`: in English, for the command line and the UI's details."""
        return f"VAT {percent(self.rate)}%" + (f" ({NOTES[self.note]})" if self.note else "")


def percent(rate: Decimal) -> str:
    """`21`, `5.5`: a rate as people write it (no trailing zeros, never an exponent)."""
    return format(rate.normalize(), "f")


class MissingRate(Exception):
    """No rate of the data applies to this country on this day (a file that lacks one is refused at load)."""


def in_eu(country: str) -> bool:
    return country.lower() in MEMBER_STATES


def rate_on(rates: list[TaxRate], country: str, on: date) -> TaxRate:
    for rate in rates:
        if rate.country == country and rate.valid_from <= on and (rate.valid_to is None or on <= rate.valid_to):
            return rate
    raise MissingRate(f"no tax rate for {country} on {on.isoformat()}")


def applicable(
    customer: Customer, vendor: Vendor | None, rates: list[TaxRate], on: date
) -> tuple[Decimal, TaxNote | None, str | None]:
    """(rate in percent, note, whose rate) for this customer on this day."""
    if vendor is None or customer.country is None:
        return Decimal(0), None, None
    if customer.country == vendor.country:
        return rate_on(rates, vendor.country, on).rate, None, vendor.country
    if not in_eu(customer.country):
        return Decimal(0), "outside-eu", None
    if customer.vat_number and in_eu(vendor.country):
        return Decimal(0), "reverse-charge", None
    return rate_on(rates, customer.country, on).rate, None, customer.country


def tax_lines(
    base: Decimal, currency: str, customer: Customer, vendor: Vendor | None, rates: list[TaxRate], on: date
) -> list[TaxLine]:
    """The quote's tax: one line for its one rate (a quote is for one customer), rounded half-up to the
    currency's minor unit; none without a vendor in the data."""
    if vendor is None:
        return []
    rate, note, country = applicable(customer, vendor, rates, on)
    amount = round_money(base * rate / Decimal(100), currency)
    return [TaxLine(rate=rate, base=base, amount=amount, note=note, country=country)]


def _overlap(a: TaxRate, b: TaxRate) -> bool:
    if a.country != b.country:
        return False
    a_end, b_end = a.valid_to or date.max, b.valid_to or date.max
    return a.valid_from <= b_end and b.valid_from <= a_end


def _period(rate: TaxRate) -> str:
    until = rate.valid_to.isoformat() if rate.valid_to else "on"
    return f"{rate.country} {rate.rate}% {rate.valid_from.isoformat()}..{until}"


def tax_data_problems(
    customers: list[Customer],
    rates: list[TaxRate],
    vendor: Vendor | None,
    stored_rates: list[TaxRate],
    stored_vendor: Vendor | None,
    today: date,
) -> list[str]:
    """R28: what `renewals load` refuses in a file, each by its row: a rate overlapping another of its country
    (in the file or stored), and a rate missing where a quote would need one today (the vendor's country;
    a customer at home or in the EU without a VAT number), or a customer without a country once there is a
    vendor."""
    problems: list[str] = []
    replaced = {(r.country, r.valid_from) for r in rates}
    kept = [r for r in stored_rates if (r.country, r.valid_from) not in replaced]
    for i, rate in enumerate(rates):
        for j, other in enumerate(rates[:i]):
            if _overlap(rate, other):
                problems.append(f"tax_rates[{i}]: {_period(rate)} overlaps tax_rates[{j}] ({_period(other)})")
        for other in kept:
            if _overlap(rate, other):
                problems.append(f"tax_rates[{i}]: {_period(rate)} overlaps the stored rate {_period(other)}")
    seller = vendor or stored_vendor
    if seller is None:
        return problems
    every = [*rates, *kept]
    try:
        rate_on(every, seller.country, today)
    except MissingRate:
        problems.append(f"vendor.country: no tax rate for the vendor's country {seller.country} on {today.isoformat()}")
    for i, customer in enumerate(customers):
        if customer.country is None:
            problems.append(f"customers[{i}].country: required once the data has a vendor (R28)")
            continue
        try:
            applicable(customer, seller, every, today)
        except MissingRate as err:
            problems.append(f"customers[{i}].country: {err}")
    return problems
