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
