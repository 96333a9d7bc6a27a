"""The input edge (web/input_guard.py): a control character in a path, a query, a form field or a JSON string
is refused at the edge (422 on the API in its error shape, a 400 page for a buyer), before any service, store
or workflow sees it; a payment method that cannot be a token is declined by the payment activity at once;
and a buyer's page never names another customer's quote or CSN (R19, R21)."""

import asyncio
import json
from datetime import UTC, datetime
from decimal import Decimal
from types import SimpleNamespace

import httpx
import pytest
from temporalio.exceptions import ApplicationError

from activities.payments import PaymentActivities, TakePaymentInput
from contracts.failures import Failure, classify
from domain.buyer_words import OWNER_NAMED, quotes_named, unnamed
from domain.calendar_aggregate import Owner
from domain.errors import NotFound, Refused
from domain.links import LinkSigner
from domain.models import Customer, PurchaseMethod
from domain.quotes import QuoteState
from runtime.settings import ApiKey
from services.account import Account
from tests.unit.test_quote_rules import build
from web import pages
from web.account import seen_by_buyer
from web.api import create_api
from web.app import create_app
from web.input_guard import json_problem, url_problem

SIGNER = LinkSigner(["a-secret-long-enough-for-the-test-signer-0123456789"])
KEY = "rk_test_key_for_the_input_edge"
ACME, OTHER = "5100000001", "5100000002"
BUYER = "buyer@acme.example"


class Untouched:
    """A service that must not be reached: any call is recorded and fails."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __getattr__(self, name: str):
        async def called(*args, **kwargs):
            self.calls.append(name)
            raise AssertionError(f"{name} was called")

        return called


class SignedInAccounts(Untouched):
    """The account service of a buyer who is signed in; anything else must not be reached."""

    async def account(self, session, now=None) -> Account:
        customer = Customer(csn=ACME, name="Acme BV", email=BUYER, address="Keizersgracht 1")
        return Account(session="session", email=BUYER, customers=[customer], csn=ACME)


class Keys(list):
    """The API's keys, as a list or as the callable that gives them."""

    def __call__(self) -> list:
        return self


def site(quotes: Untouched, accounts: Untouched | None = None) -> httpx.AsyncClient:
    application = SimpleNamespace(quotes=quotes)
    app = create_app(
        lambda: quotes,
        SIGNER,
        lambda: Untouched(),
        api=create_api(lambda: application, Keys([ApiKey(name="test", key=KEY, scope="write")])),  # type: ignore[arg-type]
        account_factory=(lambda: accounts) if accounts is not None else None,
    )
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


def run(coroutine):
    return asyncio.run(coroutine)


AUTH = {"Authorization": f"Bearer {KEY}"}


# Finding 4: NUL and control characters.


def test_a_nul_in_the_account_quotes_key_gets_400_not_500() -> None:
    accounts, quotes = SignedInAccounts(), Untouched()

    async def go():
        async with site(quotes, accounts) as web:
            web.cookies.set("renewals_account", "session")
            form = {"csrf": "x", "ids": "SUB-1001", "key": "k\x00ey", "recipients": ""}
            return await web.post("/account/quotes", data=form)

    answer = run(go())
    assert answer.status_code == 400, answer.text[:300]
    assert "control character" in answer.text and "Nothing was changed" in answer.text
    assert answer.headers["content-type"].startswith("text/html")
    assert accounts.calls == [] and quotes.calls == []


@pytest.mark.parametrize("char", ["\x00", "\x01", "\x1b", "\x7f", "\x85", "\ud800"])
def test_control_characters_in_api_json_get_422(char: str) -> None:
    quotes = Untouched()

    async def go():
        async with site(quotes) as web:
            body = {"csn": ACME, "subscriptions": ["SUB-1001"], "recipients": ["cfo@acme.example", f"x{char}@y.z"]}
            # Escaped as JSON writes them (`\\u0000`, `\\ud800`): the way they come in a real body.
            sent = json.dumps(body).encode()
            return await web.post("/api/v1/quotes", content=sent, headers=AUTH | {"content-type": "application/json"})

    answer = run(go())
    assert answer.status_code == 422, answer.text
    assert answer.json() == {
        "error": {
            "field": "recipients[1]",
            "message": f"contains a control character (U+{ord(char):04X}); only printable text is allowed",
        }
    }
    assert quotes.calls == []


def test_control_characters_in_api_paths_queries_and_names_get_422() -> None:
    async def go():
        async with site(Untouched()) as web:
            return (
                await web.get("/api/v1/quotes/Q-00%001", headers=AUTH),
                await web.get("/api/v1/quotes", params={"csn": "51\x00"}, headers=AUTH),
                await web.get("/api/v1/quotes", params={"cs\tn": "5100000001"}, headers=AUTH),
                await web.post("/api/v1/quotes/Q-000001/cancel", json={"a\x00s": "sales"}, headers=AUTH),
            )

    path, value, name, json_name = run(go())
    assert [a.status_code for a in (path, value, name, json_name)] == [422] * 4
    assert (path.json()["error"]["field"], value.json()["error"]["field"]) == ("path", "csn")
    assert (name.json()["error"]["field"], json_name.json()["error"]["field"]) == ("query", "(body)")


def test_a_strangers_body_is_still_never_read_it_gets_401() -> None:
    async def go():
        async with site(Untouched()) as web:
            return await web.post("/api/v1/quotes/Q-000001/pay", json={"payment_method": "pm\x00"})

    assert run(go()).status_code == 401


def test_a_nul_in_payment_method_is_refused_at_the_edge() -> None:
    """The API's pay and accept routes: 422 naming the field; the quote service is never asked."""
    quotes = Untouched()

    async def go():
        async with site(quotes) as web:
            pay = await web.post("/api/v1/quotes/Q-000001/pay", json={"payment_method": "pm_x\x00"}, headers=AUTH)
            accept = await web.post(
                "/api/v1/quotes/Q-000001/accept", json={"pay": True, "payment_method": "\x00"}, headers=AUTH
            )
            return pay, accept

    for answer in run(go()):
        assert answer.status_code == 422 and answer.json()["error"]["field"] == "payment_method"
    assert quotes.calls == []


def test_a_nul_anywhere_on_a_buyer_page_gets_a_400_page() -> None:
    quotes = Untouched()

    async def go():
        async with site(quotes) as web:
            return (
                await web.get("/quotes/Q-000001", params={"token": "t\x00"}),
                await web.get("/quotes/Q-00%00001"),
                await web.post("/quotes/Q-000001/pay", data={"token": "t", "holder": "A\x00B", "csrf": "c"}),
                await web.post(
                    "/quotes/Q-000001/accept", files={"token": (None, "t"), "csrf": (None, "c\x00")}
                ),  # multipart
            )

    for answer in run(go()):
        assert answer.status_code == 400, answer.text[:200]
        assert "This request cannot be read" in answer.text
    assert quotes.calls == []


def test_the_400_page_is_dutch_for_a_dutch_visitor() -> None:
    async def go():
        async with site(Untouched()) as web:
            return await web.get("/quotes/Q-000001", params={"token": "\x00"}, headers={"accept-language": "nl"})

    answer = run(go())
    assert answer.status_code == 400 and "Dit verzoek kan niet worden gelezen" in answer.text


def test_tabs_and_line_breaks_may_stand_in_a_text_but_not_in_a_name_or_a_url() -> None:
    assert json_problem({"reason": "line one\nline two\r\n\tindented"}) is None
    assert json_problem({"a\nb": "x"}) is not None
    assert json_problem({"lines": [{"product": "ok"}, {"product": "bad\x0b"}]}).field == "lines[1].product"
    assert json_problem(["fine", 1, None, True, 2.5]) is None
    clean = {"type": "http", "path": "/quotes/Q-000001", "query_string": b"token=abc%20d&x=%C3%A9"}
    assert url_problem(clean) is None
    assert url_problem(clean | {"query_string": b"token=a%0Ab"}).field == "token"
    assert url_problem(clean | {"path": "/quotes/Q-1\t"}).field == "path"


# Finding 4, the worker side: a payment method that cannot be a token is a business failure, at once.


def test_a_nul_in_payment_method_is_declined_by_the_activity_never_retried() -> None:
    gateway = Untouched()
    activities = PaymentActivities(gateway, pool=None)  # type: ignore[arg-type]
    with pytest.raises(ApplicationError) as caught:
        run(
            activities.take_payment(
                TakePaymentInput(
                    quote_number="Q-000001", amount=Decimal("10.00"), currency="EUR", payment_method="pm_x\x00"
                )
            )
        )
    assert caught.value.non_retryable and classify(caught.value) is Failure.DECLINED
    assert "enter your card again" in caught.value.message
    assert gateway.calls == []  # never sent to the provider


# Finding 6: a buyer's page names no other customer.


def moved_quote(reason_owner: Owner):
    quote = build("SUB-1001").model_copy(
        update={
            "state": QuoteState.CANCELLED,
            "cancelled_by": "system",
            "cancel_reason": f"the subscription moved to {reason_owner}",
            "superseded_because": f"SUB-1001 now belongs to {reason_owner}",
            "ended_at": datetime(2026, 11, 27, tzinfo=UTC),
        }
    )
    return quote


class Shown:
    """quotes.read for a few stored quotes: one of this customer's sent to the buyer, one of another's."""

    def __init__(self, *quotes) -> None:
        self.quotes = {q.number: q for q in quotes}

    async def read(self, number: str):
        if number not in self.quotes:
            raise NotFound(f"unknown quote {number}")
        return self.quotes[number]


def test_r21_buyer_refusal_names_no_other_customer() -> None:
    new_owner = Owner(csn=OTHER, purchase_method=PurchaseMethod.PARTNER, partner_csn="5200000009")
    quote = moved_quote(new_owner)
    theirs = build("SUB-2001", csn=OTHER).model_copy(update={"number": "Q-000009", "recipients": []})
    ours = build("SUB-1003").model_copy(update={"number": "Q-000005"})
    quotes = Shown(quote, theirs, ours)
    seen = run(pages.as_seen_by(quotes, quote, BUYER))  # type: ignore[arg-type]
    assert seen.cancel_reason == "the subscription moved to another customer"
    assert seen.superseded_because == "SUB-1001 now belongs to another customer"
    refusal = (
        "SUB-1001 was renewed by Q-000009 on 2026-11-27; SUB-1003 is being renewed by quote Q-000005; "
        f"SUB-1001 now belongs to {new_owner}; only a quote of its current owner can renew it"
    )
    safe = run(pages.buyer_safe(refusal, ACME, lambda n: pages.may_name(quotes, n, quote, BUYER)))  # type: ignore[arg-type]
    assert safe == (
        "SUB-1001 was renewed by another quote on 2026-11-27; SUB-1003 is being renewed by quote Q-000005; "
        "SUB-1001 now belongs to another customer; only a quote of its current owner can renew it"
    )
    assert OTHER not in safe and "5200000009" not in safe and "Q-000009" not in safe


def test_r21_a_buyers_own_quote_and_csn_are_still_named() -> None:
    own = Owner(csn=ACME, purchase_method=PurchaseMethod.DIRECT)
    quote = moved_quote(own)
    seen = run(pages.as_seen_by(Shown(quote), quote, BUYER))  # type: ignore[arg-type]
    assert seen.cancel_reason == f"the subscription moved to customer {ACME} (direct)"


def test_r19_a_same_customers_quote_not_sent_to_this_recipient_is_unnamed() -> None:
    quote = build("SUB-1001", recipients=["cfo@acme.example"])
    other = build("SUB-1003").model_copy(update={"number": "Q-000005"})  # to the buyer only
    quotes = Shown(quote, other)
    text = "SUB-1003 was renewed by Q-000005"
    assert run(pages.buyer_safe(text, ACME, lambda n: pages.may_name(quotes, n, quote, "cfo@acme.example"))) == (
        "SUB-1003 was renewed by another quote"
    )
    assert run(pages.buyer_safe(text, ACME, lambda n: pages.may_name(quotes, n, quote, None))) == (
        "SUB-1003 was renewed by another quote"
    )


def test_r21_the_owner_pattern_matches_every_owner_as_the_domain_writes_it() -> None:
    for owner in (
        Owner(csn=OTHER, purchase_method=PurchaseMethod.DIRECT),
        Owner(csn=OTHER, purchase_method=PurchaseMethod.PARTNER, partner_csn="5200000009"),
        Owner(csn=OTHER, purchase_method=PurchaseMethod.PARTNER),
    ):
        assert OWNER_NAMED.fullmatch(str(owner)), str(owner)


def test_r21_the_account_names_no_other_customer_in_a_refusal() -> None:
    ours = build("SUB-1003").model_copy(update={"number": "Q-000005"})

    class Accounts:
        async def quote_of(self, account, number):
            if number != ours.number:
                raise NotFound(f"unknown quote {number}")
            return ours

    account = run(SignedInAccounts().account(None))
    text = f"auto-renew of SUB-1001 is held by quote Q-000005, Q-000009 until it ends; customer {OTHER} (direct)"
    assert run(seen_by_buyer(Accounts(), account, text)) == (  # type: ignore[arg-type]
        "auto-renew of SUB-1001 is held by quote Q-000005, another quote until it ends; another customer"
    )


def test_a_refused_r16_naming_another_customers_quote_reads_another_quote_on_the_page() -> None:
    quote = build("SUB-1001")
    theirs = build("SUB-2001", csn=OTHER).model_copy(update={"number": "Q-000009", "buyer_email": BUYER})
    err = Refused("R16", "SUB-1001 is being renewed by Q-000009 (since 2026-11-27); try again in a moment")
    request = SimpleNamespace(cookies={}, headers={})
    text = run(pages.refusal_text(request, err, quote, Shown(quote, theirs), BUYER))  # type: ignore[arg-type]
    assert text == "SUB-1001 is being renewed by another quote (since 2026-11-27); try again in a moment"


def test_r21_the_domain_unnames_every_other_customer_and_every_quote_not_allowed() -> None:
    text = (
        f"superseded by Q-000009; held by quote Q-000005, Q-000009; customer {OTHER} (through partner 5200000009); "
        f"customer {ACME} (direct); customer {OTHER}; Q-0000091 and xQ-000009 are other words"
    )
    assert quotes_named(text) == ["Q-000009", "Q-000005", "Q-0000091"]
    assert unnamed(text, ACME, {"Q-000005"}) == (
        "superseded by another quote; held by quote Q-000005, another quote; another customer; "
        f"customer {ACME} (direct); another customer; another quote and xQ-000009 are other words"
    )
    assert unnamed(text, OTHER, {"Q-000009", "Q-000005", "Q-0000091"}) == text.replace(
        f"customer {ACME} (direct)", "another customer"
    )
    assert unnamed("nothing named here", ACME) == "nothing named here"


def test_the_cli_accept_pay_path_refuses_a_control_character_in_its_reference() -> None:
    """`renewals quote accept --pay --reference R` takes no payment method; its reference is checked by the
    update's input before anything is sent (the CLI exits 2, starters/base.py); argv cannot hold a NUL."""
    from pydantic import ValidationError

    from contracts.quote import AcceptInput

    for reference in ("BANK\x01-1", "BANK\x7f", "BANK\n1"):
        with pytest.raises(ValidationError):
            AcceptInput(pay=True, payment_reference=reference)
    assert AcceptInput(pay=True, payment_reference="BANK-1").payment_reference == "BANK-1"
