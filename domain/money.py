"""Currencies and rounding (R15): exact decimals in the currency's minor units."""

from decimal import ROUND_HALF_UP, Decimal

from babel.numbers import get_currency_precision, list_currencies

# Read once at import: babel loads its data files lazily, and workflows may not open files.
_CURRENCIES = frozenset(list_currencies())
_MINOR_UNITS = {code: get_currency_precision(code) for code in _CURRENCIES}


def is_known_currency(code: str) -> bool:
    return code in _CURRENCIES


def minor_units(currency: str) -> int:
    return _MINOR_UNITS.get(currency, 2)


def round_money(amount: Decimal, currency: str) -> Decimal:
    """Half-up to the currency's minor units: EUR 2 places, JPY 0."""
    return amount.quantize(Decimal(1).scaleb(-minor_units(currency)), rounding=ROUND_HALF_UP)


def format_money(amount: Decimal, currency: str) -> str:
    """`EUR 2,030.00`, `JPY 120,000`: one form for tables, summaries and emails."""
    return f"{currency} {round_money(amount, currency):,}"


def to_minor(amount: Decimal, exponent: int) -> int:
    """An amount as a whole number of minor units (EUR 10.50 at exponent 2: 1050; JPY 120000 at 0: 120000).
    Exact or refused: an amount finer than the unit is never rounded here, where money moves."""
    scaled = amount.scaleb(exponent)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{amount} has more than {exponent} decimal place(s)")
    return int(scaled)


def from_minor(units: int, exponent: int) -> Decimal:
    return Decimal(units).scaleb(-exponent)
