"""The rest of domain/links.py beside tests/unit/test_links.py: a paid quote's receipt link (R19), the
account's one-time sign-in link and its form field (R24), what a client may send in place of a form
field, and the edges of a link's expiry."""

import time
from datetime import UTC, datetime, timedelta

import pytest
from itsdangerous import URLSafeSerializer

import domain.links as link_module
from domain.links import QUOTES_PAGE_LIFETIME, RECEIPT_LINK_LIFETIME, LinkSigner, receipt_link, signed_links
from domain.quotes import QuoteState
from tests.unit.test_links import SALT, claims, refused
from tests.unit.test_quote_rules import NOW, build

# hmac-sha256 of "sign-in|abc123" and "account-csrf|SESSION" with each secret.
SIGN_IN_NEWEST = "1a5d0335ce7fcba379add1cc304da576742109651052e79e7a4b513da449a75c"
SIGN_IN_OLDER = "9199c9101fa08f652d02b73b53e836b197dfb458e5f876b06e6b99fe7da34a6f"
SIGN_IN_EMPTY_ID = "9ad7f00c93b1f184a0d9c8831af382267369626a81e4ad69410c6b01b3a3f750"  # of "sign-in|"
SESSION_NEWEST = "af115f178003e72975b8b4f9ac2ef13b1255dccc4e862eba09f1f683286c4ed9"
SESSION_OLDER = "d76b91891f84eca24ad31a9a562f5cb0ac6298b5c9510a75f344e6a6b6a8c60d"
NOT_TEXT = "\udcff"  # a lone surrogate: no UTF-8 encoding exists for it


def signer() -> LinkSigner:
    return LinkSigner(["newest", "older"])


# R19: a paid quote's receipt link.


def test_r19_a_receipt_link_opens_the_paid_quote_for_its_recipient_for_a_day_from_now() -> None:
    paid = build("SUB-1001").model_copy(update={"state": QuoteState.PAID, "sent_at": NOW, "expires_at": NOW})
    link = receipt_link(signer(), "https://acme.example/BOX/", paid, "it@acme.example", NOW)
    base, token = link.split("?token=")
    assert base == f"https://acme.example/BOX/quotes/{paid.number}"
    until = NOW + timedelta(days=1)
    assert claims(token) == {"q": paid.number, "r": "it@acme.example", "e": int(until.timestamp()), "k": "1871d953"}
    assert RECEIPT_LINK_LIFETIME == timedelta(days=1)
    assert signer().verify_quote(token, paid.number, until - timedelta(seconds=1)) == "it@acme.example"
    assert refused(signer().verify_quote, token, paid.number, until) == "the link has expired"
    assert refused(signer().verify_quote, token, "Q-000002", NOW) == "this link is for another quote"


# R24: the account's one-time sign-in link.


def test_r24_a_sign_in_token_is_the_id_and_its_hmac_with_the_newest_secret_the_same_each_time() -> None:
    token = signer().sign_in_token("abc123")
    assert token == f"abc123.{SIGN_IN_NEWEST}"
    assert signer().sign_in_token("abc123") == token  # a retried email carries the same link
    assert signer().verify_sign_in(token) == "abc123"


def test_r24_a_sign_in_link_mailed_before_a_rotation_still_opens_and_a_dropped_secret_revokes_it() -> None:
    old = LinkSigner(["older"]).sign_in_token("abc123")
    assert old == f"abc123.{SIGN_IN_OLDER}"
    assert signer().verify_sign_in(old) == "abc123"
    assert refused(LinkSigner(["newest"]).verify_sign_in, old) == "the sign-in link is not valid"


@pytest.mark.parametrize(
    "token",
    [
        None,
        "",
        "abc123",
        "abc123.",
        f".{SIGN_IN_EMPTY_ID}",  # a signature, but of no sign-in
        f"abc124.{SIGN_IN_NEWEST}",  # another sign-in's signature
        f"abc123.{SIGN_IN_NEWEST[:-1]}",
        f"abc123.{SIGN_IN_NEWEST.upper()}",
        f"abc123.{SESSION_NEWEST}",
        f"abc123.{NOT_TEXT}",
    ],
)
def test_r24_a_sign_in_link_we_did_not_sign_is_refused(token) -> None:
    assert refused(signer().verify_sign_in, token) == "the sign-in link is not valid"


def test_r24_the_account_form_field_is_an_hmac_of_the_session_with_the_newest_secret() -> None:
    assert signer().session_csrf("SESSION") == SESSION_NEWEST
    assert LinkSigner("older").session_csrf("SESSION") == SESSION_OLDER
    signer().check_session_csrf("SESSION", SESSION_NEWEST)
    signer().check_session_csrf("SESSION", SESSION_OLDER)  # a page served before the rotation


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        SESSION_NEWEST[:8],
        SESSION_NEWEST.upper(),
        LinkSigner("newest").session_csrf("OTHER"),  # another session's
        LinkSigner("gone").session_csrf("SESSION"),  # a dropped secret's
        LinkSigner("newest").csrf("SESSION"),  # a quote page's form field, not the account's
        LinkSigner("newest").sign_in_token("SESSION").partition(".")[2],
        NOT_TEXT,
    ],
)
def test_r24_an_account_form_field_for_another_session_use_or_secret_is_refused(value) -> None:
    assert refused(signer().check_session_csrf, "SESSION", value) == "the form is not one this site served"


# R19: what a client sends, and the edges of an expiry.


@pytest.mark.parametrize("value", [NOT_TEXT, f"{NOT_TEXT}abc", "é" * 64])
def test_r19_any_text_a_client_sends_as_a_form_field_is_simply_not_equal(value) -> None:
    assert refused(signer().check_csrf, "TOKEN", value) == "the form is not one this site served"


def test_r19_a_token_without_an_expiry_has_expired_even_at_the_epoch() -> None:
    token = URLSafeSerializer("newest", salt=SALT).dumps({"q": "Q-000001", "r": "buyer@acme.example"})
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    assert refused(signer().verify_quote, token, "Q-000001", epoch) == "the link has expired"


def test_r14_the_quotes_page_link_lasts_90_days_from_now_whatever_zone_the_servers_clock_is_in(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A quote neither sent nor made yet: its page link lasts 90 days of 24 hours from the moment it is
    made, even on a server whose local clock moves to summer time within them."""
    moment = datetime(2027, 1, 15, 12, tzinfo=UTC)  # New York is on winter time; 90 days on, on summer time

    class Clock(datetime):
        @classmethod
        def now(cls, tz=None):
            return moment.astimezone(tz) if tz else moment.astimezone().replace(tzinfo=None)

    draft = build("SUB-1001").model_copy(update={"created_at": None})
    try:
        with monkeypatch.context() as patch:
            patch.setenv("TZ", "EST5EDT,M3.2.0,M11.1.0")
            time.tzset()
            patch.setattr(link_module, "datetime", Clock)
            _, page = signed_links(signer(), "https://r.example", draft, "b@x.example")
    finally:
        time.tzset()
    assert claims(page.split("?token=")[1])["e"] == int((moment + QUOTES_PAGE_LIFETIME).timestamp())
