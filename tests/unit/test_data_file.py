"""The data file of `renewals load`: every field checked, errors named by their place."""

import json
import re
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.calendar import TermCalendar
from domain.eligibility import eligibility, window_closes, window_opens
from domain.errors import BadInput
from domain.models import EARLIEST_DATE, LATEST_DATE, Subscription, Term
from domain.money import format_money, round_money
from store.loader import MAX_DEPTH, parse_data_file
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


def test_data_file_duplicate_key_refused_naming_it() -> None:
    text = json.dumps(sample())
    top = '{"customers": [], ' + text[1:]  # a second "customers", which JSON alone would let win silently
    assert errors_of(top)[1:] == ["customers: the key is given more than once in one object"]
    inner = text.replace('"seats": ', '"seats": 1, "seats": ', 1)
    assert errors_of(inner)[1:] == ["subscriptions[0].seats: the key is given more than once in one object"]


@pytest.mark.parametrize("number", ["9" * 5000, "-" + "1" * 4400, "1." + "0" * 5000, "1e" + "9" * 60])
def test_data_file_huge_number_refused_naming_it(number: str) -> None:
    text = re.sub(r'"seats": [0-9]+', f'"seats": {number}', json.dumps(sample()), count=1)
    message, *details = errors_of(text)
    assert "nothing was loaded" in message
    assert details == [f"subscriptions[0].seats: a number of {len(number)} characters (at most 50)"]


def test_data_file_deep_nesting_refused_naming_it() -> None:
    data = sample()
    data["customers"][0]["name"] = json.loads("[" * 40 + "]" * 40)
    message, *details = errors_of(data)
    assert "nothing was loaded" in message
    assert details == [f"customers[0].name{'[0]' * (MAX_DEPTH - 3)}: nested deeper than {MAX_DEPTH} levels"]
    # Deeper than Python's own recursion: refused by line and column, not with a RecursionError.
    message, *details = errors_of('{"customers":\n  ' + "[" * 100_000 + "]" * 100_000 + "}")
    assert details == [f"line 2 column {MAX_DEPTH + 2}: nested deeper than {MAX_DEPTH} levels"]


@pytest.mark.parametrize(
    ("char", "what"),
    [
        ("\u2028", "a line separator"),
        ("\u2029", "a paragraph separator"),
        ("\u0085", "a line break (NEL)"),
        *[(chr(c), "a control character") for c in (0x80, 0x9F, 0x0A, 0x7F)],
        *[(chr(c), "a bidirectional text control") for c in [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]],
    ],
)
@pytest.mark.parametrize("place", ["customers[0].name", "customers[0].address", "subscriptions[2].product"])
def test_data_file_text_with_a_line_break_or_bidi_control_refused_naming_the_field(
    char: str, what: str, place: str
) -> None:
    data = sample()
    table, index, field = place.replace("[", ".").replace("]", "").split(".")
    data[table][int(index)][field] = f"Acme{char}Corp"
    expected = f"{place}: Value error, contains {what} (U+{ord(char):04X}); only printable text is allowed"
    assert expected in errors_of(data)


def test_data_file_text_in_other_scripts_still_loads() -> None:
    data = sample()
    data["customers"][0]["name"] = "株式会社さくら · Ünïcødé · שלום · مرحبا"
    assert parse_data_file(json.dumps(data)).customers[0].name == data["customers"][0]["name"]


@pytest.mark.parametrize(
    ("table", "field", "value"),
    [
        ("subscriptions", "end_date", "9999-12-31"),
        ("subscriptions", "end_date", "2201-01-01"),
        ("subscriptions", "start_date", "0001-01-02"),
        ("subscriptions", "start_date", "1969-12-31"),
        ("promotions", "ends", "9999-12-31"),
        ("promotions", "starts", "1969-12-31"),
    ],
)
def test_end_date_outside_1970_2200_refused(table: str, field: str, value: str) -> None:
    data = sample()
    data[table][3 if table == "subscriptions" else 0][field] = value
    place = f"{table}[{3 if table == 'subscriptions' else 0}].{field}"
    expected = f"{place}: Value error, {value} is outside 1970-01-01..2200-12-31, the dates accepted"
    assert expected in errors_of(data)


def test_dates_at_the_edges_1970_and_2200_accepted_and_the_calendar_computes() -> None:
    data = sample()
    data["subscriptions"][0] |= {"start_date": "1970-01-01", "end_date": "2200-12-31"}
    data["promotions"][0] |= {"starts": "1970-01-01", "ends": "2200-12-31"}
    loaded = parse_data_file(json.dumps(data))
    sub = loaded.subscriptions[0]
    assert (sub.start_date, sub.end_date) == (EARLIEST_DATE, LATEST_DATE) == (date(1970, 1, 1), date(2200, 12, 31))
    assert (loaded.promotions[0].starts, loaded.promotions[0].ends) == (EARLIEST_DATE, LATEST_DATE)
    assert TermCalendar.of(LATEST_DATE).window_closes.date() == date(2201, 2, 15)
    assert TermCalendar.of(EARLIEST_DATE).window_opens.date() == date(1969, 10, 3)
    assert Term.THREE_YEAR.next_end_date(LATEST_DATE) == date(2203, 12, 31)
    assert eligibility(sub, LATEST_DATE).eligible and not eligibility(sub, EARLIEST_DATE).eligible


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(st.dates(EARLIEST_DATE + timedelta(days=1), LATEST_DATE), st.sampled_from(list(Term)))
def test_calendar_computes_for_every_accepted_end_date(end: date, term: Term) -> None:
    """Every end date a data file may give: its window, its calendar and three terms on all compute."""
    calendar = TermCalendar.of(end)
    assert calendar.window_opens < calendar.auto_quote < calendar.renewal_due < calendar.window_closes
    assert window_opens(end) < end < window_closes(end) == end + timedelta(days=45)
    later = end
    for _ in range(3):
        later = term.next_end_date(later)
        assert TermCalendar.of(later).renewal_due.date() == later
    start = max(EARLIEST_DATE, end - timedelta(days=365))
    sub = Subscription.model_validate(sample()["subscriptions"][0] | {"start_date": start, "end_date": end})
    assert eligibility(sub, end).eligible


def test_a_name_with_a_no_break_space_is_printable_text() -> None:
    """The C1 controls end at U+009F; U+00A0, a no-break space, is text (Acme\u00a0BV)."""
    from domain.models import Customer

    customer = Customer(csn="5100000001", name="Acme\u00a0BV", email="buyer@acme.example", address="Dam 1")
    assert customer.name == "Acme\u00a0BV"
