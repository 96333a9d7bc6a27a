"""R18 loads never undo the system: what a data file may change of a subscription already stored
(domain/source_data.py), and the bounds every record's text has (domain/models.py)."""

from datetime import date

import pytest
from pydantic import ValidationError

from domain.models import Customer, Term
from domain.source_data import Merged, merge_from_source
from tests.unit.test_eligibility import END, subscription

STORED = subscription(end_date=date(2028, 3, 31), seats=5, term="annual", auto_renew=False)


def test_r18_a_new_subscription_is_stored_as_the_file_has_it() -> None:
    incoming = subscription(seats=9)
    assert merge_from_source(None, incoming, held=True, renewed_by="Q-000042") == Merged(
        subscription=incoming, kept=None, renewed_elsewhere=False
    )


def test_r18_a_stale_file_keeps_the_term_this_system_renewed_and_says_so() -> None:
    stale = subscription(end_date=END, seats=7, term="3-year", product="AutoCAD LT", auto_renew=True)
    merged = merge_from_source(STORED, stale, held=False, renewed_by="renewed by Q-000042 on 2027-03-20")
    assert merged.subscription == stale.model_copy(
        update={"end_date": date(2028, 3, 31), "seats": 5, "term": Term.ANNUAL, "auto_renew": False}
    )
    assert merged.subscription.product == "AutoCAD LT"
    assert merged.kept == (
        "the file ends it 2027-03-31, but it runs until 2028-03-31 (renewed by Q-000042 on 2027-03-20); "
        "kept the stored term"
    )
    assert merged.renewed_elsewhere is False


def test_r03_r18_a_stale_file_does_not_switch_off_the_auto_renew_a_paid_quote_turned_back_on() -> None:
    renewed = STORED.model_copy(update={"auto_renew": True})  # R03: on again once the quote was paid
    stale = subscription(end_date=END, seats=5, term="annual", auto_renew=False)  # exported before
    assert merge_from_source(renewed, stale, held=False, renewed_by="x").subscription.auto_renew is True


def test_r18_a_stale_file_without_a_known_renewer_still_keeps_the_term() -> None:
    merged = merge_from_source(STORED, subscription(end_date=END), held=False)
    assert merged.kept == "the file ends it 2027-03-31, but it runs until 2028-03-31; kept the stored term"
    assert merged.subscription.end_date == date(2028, 3, 31)


def test_r18_the_same_term_in_the_file_is_taken_as_the_file_has_it() -> None:
    same = subscription(end_date=date(2028, 3, 31), seats=8, term="annual", auto_renew=True)
    assert merge_from_source(STORED, same, held=False, renewed_by="x") == Merged(
        subscription=same, kept=None, renewed_elsewhere=False
    )


def test_r18_a_later_end_date_was_renewed_elsewhere_and_is_adopted() -> None:
    later = subscription(end_date=date(2029, 3, 31), seats=3, term="annual", auto_renew=True)
    assert merge_from_source(STORED, later, held=False) == Merged(subscription=later, kept=None, renewed_elsewhere=True)


@pytest.mark.parametrize("incoming_end", [END, date(2028, 3, 31), date(2029, 3, 31)])
def test_r02_r18_while_a_quote_holds_auto_renew_a_load_does_not_change_the_switch(incoming_end: date) -> None:
    incoming = subscription(end_date=incoming_end, auto_renew=True)
    assert merge_from_source(STORED, incoming, held=True).subscription.auto_renew is False


@pytest.mark.parametrize("incoming_end", [date(2028, 3, 31), date(2029, 3, 31)])
def test_r18_a_current_file_sets_the_auto_renew_switch_nothing_holds(incoming_end: date) -> None:
    incoming = subscription(end_date=incoming_end, auto_renew=True)
    assert merge_from_source(STORED, incoming, held=False).subscription.auto_renew is True


@pytest.mark.parametrize(("char", "code"), [("\x00", "0000"), ("\n", "000A"), ("\x1f", "001F"), ("\x7f", "007F")])
def test_bad_input_a_control_character_in_a_text_is_refused_naming_it(char: str, code: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Customer(csn="5100000001", name=f"Acme{char}BV", email="buyer@acme.example", address="Keizersgracht 1")
    [error] = caught.value.errors()
    assert error["loc"] == ("name",)
    assert error["msg"] == f"Value error, contains a control character (U+{code}); only printable text is allowed"


@pytest.mark.parametrize("text", ["Acme BV", "Ångström & Søn", "Tilde ~ is the last printable ASCII"])
def test_bad_input_printable_text_is_kept(text: str) -> None:
    customer = Customer(csn="5100000001", name=text, email="buyer@acme.example", address=text)
    assert (customer.name, customer.address) == (text.strip(), text.strip())
