"""R15 money: exact decimals in the currency's minor units, rounded half-up (never to even), and one
printed form for tables, summaries and emails."""

from decimal import Decimal

import pytest

from domain.money import format_money, is_known_currency, minor_units, round_money


@pytest.mark.parametrize(
    ("currency", "places"),
    [("EUR", 2), ("USD", 2), ("JPY", 0), ("KRW", 0), ("KWD", 3), ("BHD", 3)],
)
def test_r15_minor_units_of_the_currency(currency: str, places: int) -> None:
    assert minor_units(currency) == places


def test_r15_a_currency_without_known_minor_units_gets_two() -> None:
    assert not is_known_currency("ZZZ")
    assert minor_units("ZZZ") == 2
    assert str(round_money(Decimal("1.005"), "ZZZ")) == "1.01"


@pytest.mark.parametrize("code", ["EUR", "JPY", "USD", "KWD"])
def test_r15_iso_4217_codes_are_known(code: str) -> None:
    assert is_known_currency(code) is True


@pytest.mark.parametrize("code", ["ZZZ", "eur", "EURO", "", "€"])
def test_r15_other_codes_are_unknown(code: str) -> None:
    assert is_known_currency(code) is False


@pytest.mark.parametrize(
    ("amount", "currency", "rounded"),
    [
        # Half-up: a half always goes away from zero; banker's rounding would give 0.12, 0.14, 2, 4.
        ("0.125", "EUR", "0.13"),
        ("0.135", "EUR", "0.14"),
        ("2.5", "JPY", "3"),
        ("3.5", "JPY", "4"),
        ("-0.125", "EUR", "-0.13"),
        # Below the half goes down, above it up.
        ("0.1249999", "EUR", "0.12"),
        ("0.1250001", "EUR", "0.13"),
        ("2.4999", "JPY", "2"),
        # Whole amounts get the currency's places, no more and no fewer.
        ("5", "EUR", "5.00"),
        ("5.000", "JPY", "5"),
        ("0.0005", "KWD", "0.001"),
        ("12.3456", "KWD", "12.346"),
    ],
)
def test_r15_half_up_not_bankers_rounding_per_line(amount: str, currency: str, rounded: str) -> None:
    # Compared as text: Decimal("5") == Decimal("5.00"), but a line of EUR 5 is written 5.00.
    assert str(round_money(Decimal(amount), currency)) == rounded


@pytest.mark.parametrize(
    ("amount", "currency", "text"),
    [
        ("2030", "EUR", "EUR 2,030.00"),
        ("1234567.891", "EUR", "EUR 1,234,567.89"),
        ("1234.565", "EUR", "EUR 1,234.57"),
        ("0.5", "EUR", "EUR 0.50"),
        ("280500", "JPY", "JPY 280,500"),
        ("1234.5", "JPY", "JPY 1,235"),
        ("1000.0005", "KWD", "KWD 1,000.001"),
    ],
)
def test_r15_money_is_written_code_then_amount_rounded_with_thousands(amount: str, currency: str, text: str) -> None:
    assert format_money(Decimal(amount), currency) == text
