"""The data file of `renewals load`: every field checked, errors named by their place."""

import json
from datetime import date
from decimal import Decimal

import pytest

from domain.errors import BadInput
from domain.models import Term
from domain.money import format_money, round_money
from store.loader import parse_data_file
from workers.demo_data import demo_data


def sample() -> dict:
    return json.loads(demo_data(date(2026, 11, 26)).model_dump_json())


def errors_of(data: dict | str) -> list[str]:
    with pytest.raises(BadInput) as caught:
        parse_data_file(data if isinstance(data, str) else json.dumps(data))
    return [caught.value.message, *caught.value.details]


def test_demo_data_is_a_valid_file() -> None:
    assert parse_data_file(json.dumps(sample())).subscriptions


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("seats", 0, "subscriptions[3].seats: Input should be greater than or equal to 1"),
        ("seats", "five", "subscriptions[3].seats: Input should be a valid integer"),
        ("term", "weekly", "subscriptions[3].term: Input should be 'monthly', 'annual' or '3-year'"),
        ("currency", "EUX", "subscriptions[3].currency: Value error, unknown currency 'EUX'"),
        ("end_date", "2020-01-01", "subscriptions[3]: Value error, end_date 2020-01-01 is not after start_date"),
    ],
)
def test_bad_subscription_field_is_named_with_its_place(field: str, value, expected: str) -> None:
    data = sample()
    data["subscriptions"][3][field] = value
    assert any(e.startswith(expected) for e in errors_of(data)), errors_of(data)


def test_unknown_field_is_refused() -> None:
    data = sample()
    data["prices"][1]["discount"] = "5"
    assert "prices[1].discount: Extra inputs are not permitted" in errors_of(data)


def test_partner_purchase_needs_partner_csn() -> None:
    data = sample()
    data["subscriptions"][0]["purchase_method"] = "partner"
    assert any("partner_csn is required" in e for e in errors_of(data))


def test_duplicate_key_in_file_is_refused() -> None:
    data = sample()
    data["subscriptions"].append(data["subscriptions"][0])
    assert any("duplicate of subscriptions[0] (SUB-1001)" in e for e in errors_of(data))


def test_malformed_json_names_line_and_column() -> None:
    (message,) = errors_of('{"customers": [\n  {"csn": "1"\n}')
    assert "not valid JSON" in message and "line 3" in message


def test_promotion_needs_exactly_one_kind_of_discount() -> None:
    data = sample()
    data["promotions"][0]["amount_off"] = "5"
    assert any(e.startswith("promotions[0]: Value error, exactly one") for e in errors_of(data))


def test_r15_rounding_half_up_to_minor_units() -> None:
    assert round_money(Decimal("2.345"), "EUR") == Decimal("2.35")
    assert round_money(Decimal("1234.5"), "JPY") == Decimal("1235")
    assert format_money(Decimal("2030"), "EUR") == "EUR 2,030.00"
    assert format_money(Decimal("280500"), "JPY") == "JPY 280,500"


@pytest.mark.parametrize(
    ("term", "end", "next_end"),
    [
        ("annual", date(2026, 12, 19), date(2027, 12, 19)),
        ("3-year", date(2026, 12, 19), date(2029, 12, 19)),
        ("monthly", date(2026, 2, 28), date(2026, 3, 31)),
        ("monthly", date(2026, 1, 15), date(2026, 2, 15)),
    ],
)
def test_next_end_date_is_one_term_after_the_day_after(term: str, end: date, next_end: date) -> None:
    assert Term(term).next_end_date(end) == next_end
