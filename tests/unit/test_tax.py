"""R28 tax in the pure model: the rate from the data by the customer's country and VAT number, rounded half-up to
the currency's minor unit; and what `renewals load` refuses (overlapping or missing rates, a wrong VAT number or
country), each by its row."""

from datetime import date
from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from domain.models import Customer, DataFile, TaxRate, Vendor
from domain.tax import MissingRate, tax_data_problems, tax_lines

ON = date(2026, 12, 7)
VENDOR = Vendor(name="Renewals BV", country="NL", vat_number="NL004495445B01", address="Damrak 1, Amsterdam")
RATES = [
    TaxRate(country="NL", rate=Decimal("21"), valid_from=date(2019, 1, 1)),
    TaxRate(country="DE", rate=Decimal("19"), valid_from=date(2021, 1, 1)),
    TaxRate(country="BE", rate=Decimal("21"), valid_from=date(2000, 1, 1), valid_to=date(2026, 12, 31)),
]


def customer(country: str | None, vat: str | None = None) -> Customer:
    return Customer(csn="5100000009", name="Kunde", email="k@example.com", address="x", country=country, vat_number=vat)


def test_r28_at_home_the_vendors_rate_applies_rounded_half_up() -> None:
    (line,) = tax_lines(Decimal("9135.00"), "EUR", customer("NL"), VENDOR, RATES, ON)
    assert (line.rate, line.base, line.amount, line.note) == (
        Decimal("21"),
        Decimal("9135.00"),
        Decimal("1918.35"),
        None,
    )
    (half,) = tax_lines(Decimal("0.50"), "EUR", customer("NL"), VENDOR, RATES, ON)
    assert half.amount == Decimal("0.11")  # 0.105 rounds up


def test_r28_an_eu_business_with_a_valid_vat_number_is_reverse_charged_at_0() -> None:
    (line,) = tax_lines(Decimal("1000.00"), "EUR", customer("DE", "DE 136 695 976"), VENDOR, RATES, ON)
    assert (line.rate, line.amount, line.note) == (Decimal("0"), Decimal("0.00"), "reverse-charge")


def test_r28_an_eu_consumer_pays_their_countrys_rate_outside_the_eu_0() -> None:
    (consumer,) = tax_lines(Decimal("100.00"), "EUR", customer("DE"), VENDOR, RATES, ON)
    assert (consumer.rate, consumer.amount, consumer.country) == (Decimal("19"), Decimal("19.00"), "DE")
    (japan,) = tax_lines(Decimal("280500"), "JPY", customer("JP"), VENDOR, RATES, ON)
    assert (japan.rate, japan.amount, japan.note) == (Decimal("0"), Decimal("0"), "outside-eu")


def test_r28_no_vendor_in_the_data_no_tax_and_a_missing_rate_is_said() -> None:
    assert tax_lines(Decimal("100.00"), "EUR", customer("NL"), None, RATES, ON) == []
    with pytest.raises(MissingRate, match="no tax rate for BE on 2027-01-01"):
        tax_lines(Decimal("100.00"), "EUR", customer("BE"), VENDOR, RATES, date(2027, 1, 1))


@given(
    base=st.decimals(min_value=0, max_value=10**8, places=2, allow_nan=False, allow_infinity=False),
    rate=st.decimals(min_value=0, max_value=100, places=2, allow_nan=False, allow_infinity=False),
)
def test_r28_tax_is_base_times_rate_half_up_to_the_cent(base: Decimal, rate: Decimal) -> None:
    rates = [TaxRate(country="NL", rate=rate, valid_from=date(2000, 1, 1))]
    (line,) = tax_lines(base, "EUR", customer("NL"), VENDOR, rates, ON)
    assert line.amount == (base * rate / 100).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    assert line.amount.as_tuple().exponent == -2 and 0 <= line.amount <= base


def test_r28_a_wrong_vat_number_or_country_is_refused_naming_the_field() -> None:
    with pytest.raises(ValidationError) as wrong:
        DataFile.model_validate({"customers": [customer("DE").model_dump() | {"vat_number": "DE136695977"}]})
    assert wrong.value.errors()[0]["loc"] == ("customers", 0, "vat_number")
    with pytest.raises(ValidationError) as other:
        DataFile.model_validate({"customers": [customer("DE").model_dump() | {"vat_number": "NL004495445B01"}]})
    assert "is not a VAT number of DE" in str(other.value)
    with pytest.raises(ValidationError) as country:
        DataFile.model_validate({"customers": [customer("NL").model_dump() | {"country": "XX"}]})
    assert country.value.errors()[0]["loc"] == ("customers", 0, "country")


def test_r28_load_refuses_an_overlapping_or_missing_rate_and_names_the_row() -> None:
    overlapping = [*RATES, TaxRate(country="NL", rate=Decimal("20"), valid_from=date(2025, 1, 1))]
    problems = tax_data_problems([customer("NL")], overlapping, VENDOR, [], None, ON)
    assert problems == ["tax_rates[3]: NL 20% 2025-01-01..on overlaps tax_rates[0] (NL 21% 2019-01-01..on)"]
    stored = tax_data_problems(
        [], [TaxRate(country="DE", rate=Decimal("16"), valid_from=date(2022, 1, 1))], None, RATES, VENDOR, ON
    )
    assert stored == ["tax_rates[0]: DE 16% 2022-01-01..on overlaps the stored rate DE 19% 2021-01-01..on"]
    missing = tax_data_problems([customer("FR"), customer(None)], RATES, VENDOR, [], None, ON)
    assert missing == [
        "customers[0].country: no tax rate for FR on 2026-12-07",
        "customers[1].country: required once the data has a vendor (R28)",
    ]
    no_home = tax_data_problems([], RATES[1:], VENDOR, [], None, ON)
    assert no_home == ["vendor.country: no tax rate for the vendor's country NL on 2026-12-07"]
    assert tax_data_problems([customer("FR", "FR40303265045"), customer("US")], RATES, VENDOR, [], None, ON) == []
