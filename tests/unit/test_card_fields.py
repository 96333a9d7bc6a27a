"""The card form's fields (payments/gateway.Card, the pay page): ASCII digits only, Luhn by python-stdnum, a CVC
of 3 or 4 digits, an expiry that has not passed; each error next to its field, in English and Dutch."""

import asyncio
import re
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest
from pydantic import ValidationError

from domain.errors import NotFound
from domain.links import LinkSigner
from domain.models import Language
from domain.quotes import QuoteState
from payments.gateway import Card
from tests.unit.test_quote_rules import build
from web import pages
from web.app import create_app

SIGNER = LinkSigner(["a-secret-long-enough-for-the-test-signer-0123456789"])
BUYER = "buyer@acme.example"
TODAY = date(2027, 3, 15)
GOOD = {"holder": "A. Buyer", "number": "4242 4242 4242 4242", "expiry": "12/29", "cvc": "123"}


def card(**fields) -> Card:
    return Card.model_validate(GOOD | fields, context={"today": TODAY})


def refused(**fields) -> dict[str, str]:
    with pytest.raises(ValidationError) as caught:
        card(**fields)
    return {str(e["loc"][0]): str(e["msg"]).removeprefix("Value error, ") for e in caught.value.errors()}


def test_a_card_number_of_arabic_indic_digits_is_refused() -> None:
    arabic = "".join(chr(0x0660 + int(d)) for d in "4242424242424242")
    assert arabic.isdigit()  # what str.isdigit let through
    assert refused(number=arabic) == {"number": "a card number has 12 to 19 digits"}
    assert refused(number="４２４２４２４２４２４２４２４２") == {
        "number": "a card number has 12 to 19 digits"
    }  # full width


def test_a_card_number_failing_luhn_is_refused() -> None:
    assert refused(number="4242 4242 4242 4241") == {"number": "this card number is not valid"}
    assert card(number="4242 4242 4242 4242").number.get_secret_value() == "4242424242424242"
    assert card(number=" 5555 5555 5555 4444 ").number.get_secret_value() == "5555555555554444"


@pytest.mark.parametrize("number", ["4242-4242-4242-4242", "4242\t4242 4242 4242", "42424242424", "4" * 20, ""])
def test_a_card_number_with_other_separators_or_lengths_is_refused(number: str) -> None:
    assert "number" in refused(number=number)


@pytest.mark.parametrize("cvc", ["12", "12345", "", "12a", "١٢٣"])
def test_a_cvc_of_two_or_five_digits_is_refused(cvc: str) -> None:
    assert refused(cvc=cvc) == {"cvc": "the security code (CVC) has 3 or 4 digits"}


@pytest.mark.parametrize("cvc", ["123", "1234", "000"])
def test_a_cvc_of_three_or_four_digits_is_taken(cvc: str) -> None:
    assert card(cvc=cvc).cvc.get_secret_value() == cvc


def test_an_expiry_is_good_through_the_end_of_its_month() -> None:
    assert card(expiry="03/27").expiry == "03/27"  # this month
    assert refused(expiry="02/27") == {"expiry": "this card has expired"}  # last month
    assert refused(expiry="03/26") == {"expiry": "this card has expired"}
    assert refused(expiry="13/29") == {"expiry": "write the expiry date as MM/YY, for example 12/29"}
    assert refused(expiry="1/29") == {"expiry": "write the expiry date as MM/YY, for example 12/29"}


def test_an_expiry_month_ends_a_day_later_in_utc_for_the_buyers_furthest_west() -> None:
    on = {"today": date(2027, 3, 1)}  # UTC; in Honolulu it is still the 28th of February
    assert Card.model_validate(GOOD | {"expiry": "02/27"}, context=on).expiry == "02/27"
    with pytest.raises(ValidationError):
        Card.model_validate(GOOD | {"expiry": "02/27"}, context={"today": date(2027, 3, 2)})


def test_without_a_clock_the_expiry_is_checked_against_the_real_date() -> None:
    last_year = datetime.now(UTC) - timedelta(days=400)
    with pytest.raises(ValidationError):
        Card(holder="A", number="4242424242424242", expiry=last_year.strftime("%m/%y"), cvc="123")


# The pay page: each error next to its field.


class OneQuote:
    def __init__(self, quote) -> None:
        self.quote = quote

    async def read(self, number: str):
        if number != self.quote.number:
            raise NotFound(f"unknown quote {number}")
        return self.quote


class NoGateway:
    async def tokenize(self, card):
        raise AssertionError("a refused card must not be tokenized")


def pay(form: dict[str, str], language: Language = "en") -> httpx.Response:
    """The pay form posted for a quote of a customer writing in `language`: the page answers in it."""
    quote = build("SUB-1001").model_copy(update={"state": QuoteState.SENT, "language": language})
    expires = datetime(2031, 1, 1, tzinfo=UTC)  # whatever the clock the test gives the app
    token = SIGNER.quote_token(quote.number, BUYER, expires)
    app = create_app(lambda: OneQuote(quote), SIGNER, lambda: NoGateway())  # type: ignore[arg-type,return-value]

    async def go():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as web:
            data = {"token": token, "csrf": SIGNER.csrf(token)} | form
            return await web.post(f"/quotes/{quote.number}/pay", data=data)

    return asyncio.run(go())


def field_error(page: str, field: str) -> str | None:
    """The error shown next to a field, if the field points at it (aria-describedby) and says it is invalid."""
    tag = re.search(rf"<input id=\"{field}\"[^>]*>", page)
    assert tag is not None, field
    if 'aria-invalid="true"' not in tag.group() or f'aria-describedby="{field}-error"' not in tag.group():
        return None
    found = re.search(rf'<p class="field-error" role="alert" id="{field}-error">([^<]+)</p>', page)
    return found.group(1) if found else None


CARD_FORM = {"holder": "A. Buyer", "card_number": "4242 4242 4242 4242", "expiry": "12/29", "cvc": "123"}


def test_an_expired_card_is_refused_next_to_its_field(monkeypatch) -> None:
    monkeypatch.setattr(pages, "now", lambda: datetime(2027, 3, 15, 12, tzinfo=UTC))
    answer = pay(CARD_FORM | {"expiry": "01/27"})
    assert answer.status_code == 422
    assert field_error(answer.text, "expiry") == "This card has expired."
    assert [field_error(answer.text, f) for f in ("holder", "card_number", "cvc")] == [None, None, None]
    # The app's clock decides (pages.now): a month earlier the same card is good, and only the CVC is refused.
    monkeypatch.setattr(pages, "now", lambda: datetime(2026, 12, 1, tzinfo=UTC))
    earlier = pay(CARD_FORM | {"expiry": "01/27", "cvc": "12"})
    assert earlier.status_code == 422 and field_error(earlier.text, "expiry") is None
    assert field_error(earlier.text, "cvc") == "The security code (CVC) has 3 or 4 digits."


def test_every_refused_card_field_is_shown_next_to_it_in_dutch_too(monkeypatch) -> None:
    monkeypatch.setattr(pages, "now", lambda: datetime(2027, 3, 15, 12, tzinfo=UTC))
    form = {"holder": "", "card_number": "4242 4242 4242 4241", "expiry": "02/26", "cvc": "12345"}
    english, dutch = pay(form).text, pay(form, "nl").text
    assert {f: field_error(english, f) for f in CARD_FORM} == {
        "holder": "Enter the name on the card (at most 100 characters).",
        "card_number": "This card number is not valid.",
        "expiry": "This card has expired.",
        "cvc": "The security code (CVC) has 3 or 4 digits.",
    }
    assert {f: field_error(dutch, f) for f in CARD_FORM} == {
        "holder": "Vul de naam op de kaart in (hoogstens 100 tekens).",
        "card_number": "Dit kaartnummer is niet geldig.",
        "expiry": "Deze kaart is verlopen.",
        "cvc": "De beveiligingscode (CVC) heeft 3 of 4 cijfers.",
    }
    assert "4242" not in english  # the card is never sent back


def test_a_card_number_of_arabic_indic_digits_is_refused_next_to_its_field() -> None:
    arabic = "".join(chr(0x0660 + int(d)) for d in "4242424242424242")
    answer = pay(CARD_FORM | {"card_number": arabic})
    assert answer.status_code == 422
    assert field_error(answer.text, "card_number") == "A card number has 12 to 19 digits."
