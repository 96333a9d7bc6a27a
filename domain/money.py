"""Currencies and rounding (R15): exact decimals in the currency's minor units."""

from decimal import ROUND_HALF_UP, Decimal

from babel.numbers import get_currency_precision, is_currency


def is_known_currency(code: str) -> bool:
    return code.isupper() and is_currency(code)


def minor_units(currency: str) -> int:
    return get_currency_precision(currency)


def round_money(amount: Decimal, currency: str) -> Decimal:
    """Half-up to the currency's minor units: EUR 2 places, JPY 0."""
    return amount.quantize(Decimal(1).scaleb(-minor_units(currency)), rounding=ROUND_HALF_UP)


def format_money(amount: Decimal, currency: str) -> str:
    """`EUR 2,030.00`, `JPY 120,000`: one form for tables, summaries and emails."""
    return f"{currency} {round_money(amount, currency):,}"
