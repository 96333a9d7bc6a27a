"""R13, R14, R19: the buyer's links, signed for one quote (or one customer's page) and one recipient until
an expiry, with the newest of several secrets; every listed secret still verifies. The tokens are read
here with itsdangerous itself, so what a mailed link carries is pinned, not only that it round-trips."""

from datetime import UTC, datetime, timedelta

import pytest
from itsdangerous import URLSafeSerializer

from domain.links import QUOTES_PAGE_LIFETIME, LinkRefused, LinkSigner, key_id, signed_links
from domain.quotes import QuoteState
from tests.unit.test_quote_rules import NOW, build

SALT = "renewals-buyer-link"
EXPIRES = NOW + timedelta(days=30)
SIGNER = LinkSigner(["newest", "older"])


def claims(token: str, secret: str = "newest") -> dict:
    return URLSafeSerializer(secret, salt=SALT).loads(token)


def refused(call, *args) -> str:
    with pytest.raises(LinkRefused) as caught:
        call(*args)
    return str(caught.value)


def test_r19_a_secret_is_named_by_the_first_8_hex_digits_of_its_sha256() -> None:
    assert key_id("newest") == "1871d953"
    assert key_id("older") == "da925a30"


@pytest.mark.parametrize("secrets", ["", [], ["newest", ""], [""]])
def test_r19_a_signer_needs_secrets_none_of_them_empty(secrets) -> None:
    with pytest.raises(
        ValueError, match=r"^a buyer link secret is required \(BUYER_LINK_SECRETS or BUYER_LINK_SECRET\)$"
    ):
        LinkSigner(secrets)


def test_r19_one_secret_given_as_text_is_one_secret_not_its_letters() -> None:
    token = LinkSigner("newest").quote_token("Q-000001", "buyer@acme.example", EXPIRES)
    assert claims(token)["k"] == key_id("newest")
    assert LinkSigner(["newest"]).verify_quote(token, "Q-000001", NOW) == "buyer@acme.example"


def test_r19_a_quote_token_carries_quote_recipient_expiry_and_key_signed_with_the_newest_secret() -> None:
    token = SIGNER.quote_token("Q-000001", "buyer@acme.example", EXPIRES)
    assert claims(token, "newest") == {
        "q": "Q-000001",
        "r": "buyer@acme.example",
        "e": int(EXPIRES.timestamp()),
        "k": key_id("newest"),
    }
    assert SIGNER.verify_quote(token, "Q-000001", NOW) == "buyer@acme.example"


def test_r14_a_customer_token_carries_customer_recipient_expiry_and_key() -> None:
    token = SIGNER.customer_token("5100000001", "it@acme.example", EXPIRES)
    assert claims(token) == {"c": "5100000001", "r": "it@acme.example", "e": int(EXPIRES.timestamp()), "k": "1871d953"}
    assert SIGNER.verify_customer(token, "5100000001", NOW) == "it@acme.example"


def test_r19_a_link_opens_only_its_own_quote_or_customer() -> None:
    quote_token = SIGNER.quote_token("Q-000001", "buyer@acme.example", EXPIRES)
    page_token = SIGNER.customer_token("5100000001", "buyer@acme.example", EXPIRES)
    assert refused(SIGNER.verify_quote, quote_token, "Q-000002", NOW) == "this link is for another quote"
    assert refused(SIGNER.verify_quote, page_token, "Q-000001", NOW) == "this link is for another quote"
    assert refused(SIGNER.verify_customer, page_token, "5100000002", NOW) == "this link is for another customer"
    assert refused(SIGNER.verify_customer, quote_token, "5100000001", NOW) == "this link is for another customer"


def test_r19_a_link_works_until_the_second_it_expires() -> None:
    token = SIGNER.quote_token("Q-000001", "buyer@acme.example", EXPIRES)
    assert SIGNER.verify_quote(token, "Q-000001", EXPIRES - timedelta(seconds=1)) == "buyer@acme.example"
    assert refused(SIGNER.verify_quote, token, "Q-000001", EXPIRES) == "the link has expired"
    page = SIGNER.customer_token("5100000001", "buyer@acme.example", EXPIRES)
    assert refused(SIGNER.verify_customer, page, "5100000001", EXPIRES) == "the link has expired"


@pytest.mark.parametrize("token", [None, ""])
def test_r19_a_link_without_a_token_is_refused(token) -> None:
    assert refused(SIGNER.verify_quote, token, "Q-000001", NOW) == "the link has no token"
    assert refused(SIGNER.verify_customer, token, "5100000001", NOW) == "the link has no token"


def test_r19_a_tampered_token_or_one_signed_with_another_secret_is_refused() -> None:
    token = SIGNER.quote_token("Q-000001", "buyer@acme.example", EXPIRES)
    payload, signature = token.rsplit(".", 1)
    forged = URLSafeSerializer("guessed", salt=SALT).dumps({"q": "Q-000001", "r": "x@evil.example", "e": 2**40})
    for bad in (f"{payload}.{signature[::-1]}", f"{payload}x.{signature}", forged, "not-a-token"):
        assert refused(SIGNER.verify_quote, bad, "Q-000001", NOW) == "the link is not valid"
    other_salt = URLSafeSerializer("newest", salt="another-use").dumps({"q": "Q-000001", "r": "x", "e": 2**40})
    assert refused(SIGNER.verify_quote, other_salt, "Q-000001", NOW) == "the link is not valid"


@pytest.mark.parametrize("signed", [["Q-000001"], "Q-000001", {"q": "Q-000001", "r": "buyer@acme.example"}])
def test_r19_a_signed_token_without_an_expiry_counts_as_expired(signed) -> None:
    token = URLSafeSerializer("newest", salt=SALT).dumps(signed)
    assert refused(SIGNER.verify_quote, token, "Q-000001", NOW) == "the link has expired"


def test_r19_rotated_secrets_keep_old_links_and_sign_with_the_newest() -> None:
    old_link = LinkSigner(["older"]).quote_token("Q-000001", "buyer@acme.example", EXPIRES)
    assert SIGNER.verify_quote(old_link, "Q-000001", NOW) == "buyer@acme.example"
    new_link = SIGNER.quote_token("Q-000001", "buyer@acme.example", EXPIRES)
    assert claims(new_link, "newest")["k"] == key_id("newest")
    assert refused(LinkSigner(["older"]).verify_quote, new_link, "Q-000001", NOW) == "the link is not valid"
    # Dropping a secret revokes its links.
    assert refused(LinkSigner(["newest"]).verify_quote, old_link, "Q-000001", NOW) == "the link is not valid"


def test_r19_the_form_field_is_an_hmac_of_the_token_with_the_newest_secret() -> None:
    assert SIGNER.csrf("TOKEN") == "b76a168a6e666e8c491718fd6ca69e46656affe0fc62571850d58e115f484096"
    SIGNER.check_csrf("TOKEN", SIGNER.csrf("TOKEN"))
    SIGNER.check_csrf("TOKEN", LinkSigner(["older"]).csrf("TOKEN"))  # a page served before the rotation


@pytest.mark.parametrize(
    "value", [None, "", "b76a168a", LinkSigner("newest").csrf("OTHER"), LinkSigner("gone").csrf("TOKEN")]
)
def test_r19_a_form_field_for_another_token_or_secret_is_refused(value) -> None:
    assert refused(SIGNER.check_csrf, "TOKEN", value) == "the form is not one this site served"


def test_r13_r14_a_pending_quote_gets_its_link_and_the_recipients_quotes_page() -> None:
    quote = build("SUB-1001").model_copy(
        update={"state": QuoteState.SENT, "sent_at": NOW, "expires_at": EXPIRES, "created_at": NOW - timedelta(days=1)}
    )
    # The app may live under a path; the slash at its end is dropped, and nothing else.
    quote_link, page_link = signed_links(SIGNER, "https://acme.example/BOX/", quote, "it@acme.example")
    assert quote_link is not None
    base, token = quote_link.split("?token=")
    assert base == f"https://acme.example/BOX/quotes/{quote.number}"
    assert claims(token) == {"q": quote.number, "r": "it@acme.example", "e": int(EXPIRES.timestamp()), "k": "1871d953"}
    base, token = page_link.split("?token=")
    assert base == f"https://acme.example/BOX/customers/{quote.csn}/quotes"
    assert claims(token) == {
        "c": quote.csn,
        "r": "it@acme.example",
        "e": int((NOW + QUOTES_PAGE_LIFETIME).timestamp()),
        "k": "1871d953",
    }
    assert QUOTES_PAGE_LIFETIME == timedelta(days=90)


def test_r19_an_ended_quote_or_one_without_an_expiry_gets_no_quote_link() -> None:
    pending = build("SUB-1001").model_copy(update={"sent_at": NOW, "expires_at": EXPIRES})
    for state in (QuoteState.PAID, QuoteState.EXPIRED, QuoteState.CANCELLED):
        quote_link, page_link = signed_links(
            SIGNER, "https://r.example", pending.model_copy(update={"state": state}), "b@x.example"
        )
        assert quote_link is None and page_link.startswith("https://r.example/customers/")
    quote_link, _ = signed_links(
        SIGNER, "https://r.example", pending.model_copy(update={"expires_at": None}), "b@x.example"
    )
    assert quote_link is None


def test_r14_the_quotes_page_link_lasts_90_days_from_sending_else_from_making_else_from_now() -> None:
    draft = build("SUB-1001")  # made at NOW, not sent
    _, page = signed_links(SIGNER, "https://r.example", draft, "b@x.example")
    assert claims(page.split("?token=")[1])["e"] == int((draft.created_at + QUOTES_PAGE_LIFETIME).timestamp())
    before = datetime.now(UTC)
    _, page = signed_links(SIGNER, "https://r.example", draft.model_copy(update={"created_at": None}), "b@x.example")
    expiry = claims(page.split("?token=")[1])["e"]
    assert (
        int((before + QUOTES_PAGE_LIFETIME).timestamp())
        <= expiry
        <= int((datetime.now(UTC) + QUOTES_PAGE_LIFETIME).timestamp())
    )
