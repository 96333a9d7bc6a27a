"""Signed buyer links (R13, R14, R19): a token bound to one quote (or one customer's page), one
recipient and an expiry, signed with the newest of several secrets.

Secrets rotate without breaking links already mailed: tokens are signed with the newest secret
and carry its key id; every listed secret still verifies. Drop an old secret to revoke its links.
"""

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

from itsdangerous import BadSignature, URLSafeSerializer

from domain.quotes import Quote


def _same(expected: str, given: str) -> bool:
    """Constant-time, and any text a client sends (hmac compares only ASCII str) is simply not equal."""
    return hmac.compare_digest(expected.encode(), given.encode("utf-8", "replace"))


class LinkRefused(Exception):
    """No token, a tampered one, another quote's, or an expired one."""


def key_id(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()[:8]


class LinkSigner:
    def __init__(self, secrets: list[str] | str) -> None:
        keys = [secrets] if isinstance(secrets, str) else list(secrets)
        if not keys or not all(keys):
            raise ValueError("a buyer link secret is required (BUYER_LINK_SECRETS or BUYER_LINK_SECRET)")
        self._keys = [k.encode() for k in keys]
        self._kid = key_id(keys[0])
        # itsdangerous signs with the last key and verifies with each: newest last.
        self._serializer = URLSafeSerializer(list(reversed(keys)), salt="renewals-buyer-link")

    def quote_token(self, number: str, recipient: str, expires_at: datetime) -> str:
        return self._serializer.dumps({"q": number, "r": recipient, "e": int(expires_at.timestamp()), "k": self._kid})

    def customer_token(self, csn: str, recipient: str, expires_at: datetime) -> str:
        return self._serializer.dumps({"c": csn, "r": recipient, "e": int(expires_at.timestamp()), "k": self._kid})

    def verify_quote(self, token: str | None, number: str, now: datetime) -> str:
        """The recipient the link was made for."""
        claims = self._claims(token, now)
        if claims.get("q") != number:
            raise LinkRefused("this link is for another quote")
        return claims["r"]

    def verify_customer(self, token: str | None, csn: str, now: datetime) -> str:
        claims = self._claims(token, now)
        if claims.get("c") != csn:
            raise LinkRefused("this link is for another customer")
        return claims["r"]

    def csrf(self, token: str) -> str:
        """The form field that proves a POST came from a page this app served for this link."""
        return self._csrf(self._keys[0], token)

    def check_csrf(self, token: str, value: str | None) -> None:
        if not value or not any(_same(self._csrf(key, token), value) for key in self._keys):
            raise LinkRefused("the form is not one this site served")

    def sign_in_token(self, sign_in_id: str) -> str:
        """The account's one-time link (R24): the stored sign-in's id and its signature. The same id gives the
        same token, so a retried email carries the same link."""
        return f"{sign_in_id}.{self._mac(self._keys[0], 'sign-in', sign_in_id)}"

    def verify_sign_in(self, token: str | None) -> str:
        """The sign-in id a link names, if its signature is ours (whether it is still valid is the store's)."""
        sign_in_id, _, mac = (token or "").partition(".")
        if not sign_in_id or not any(_same(self._mac(key, "sign-in", sign_in_id), mac) for key in self._keys):
            raise LinkRefused("the sign-in link is not valid")
        return sign_in_id

    def session_csrf(self, session: str) -> str:
        """The account's form field: bound to the session, so a form from another site cannot act in it."""
        return self._mac(self._keys[0], "account-csrf", session)

    def check_session_csrf(self, session: str, value: str | None) -> None:
        if not value or not any(_same(self._mac(key, "account-csrf", session), value) for key in self._keys):
            raise LinkRefused("the form is not one this site served")

    @staticmethod
    def _mac(key: bytes, purpose: str, value: str) -> str:
        return hmac.new(key, f"{purpose}|{value}".encode(), hashlib.sha256).hexdigest()

    @staticmethod
    def _csrf(key: bytes, token: str) -> str:
        return hmac.new(key, f"csrf|{token}".encode(), hashlib.sha256).hexdigest()

    def _claims(self, token: str | None, now: datetime) -> dict:
        if not token:
            raise LinkRefused("the link has no token")
        try:
            claims = self._serializer.loads(token)
        except BadSignature:
            raise LinkRefused("the link is not valid") from None
        if not isinstance(claims, dict) or datetime.fromtimestamp(claims.get("e", 0), UTC) <= now:
            raise LinkRefused("the link has expired")
        return claims


QUOTES_PAGE_LIFETIME = timedelta(days=90)


# How long a link made now for a paid quote's receipt works: whoever shows one (a quotes page, the
# command line) makes a new one each time.
RECEIPT_LINK_LIFETIME = timedelta(days=1)


def receipt_link(links: LinkSigner, app_url: str, quote: Quote, recipient: str, now: datetime) -> str:
    """A paid quote's link, which opens its receipt (R19: for this recipient only), for a day from `now`."""
    until = now + RECEIPT_LINK_LIFETIME
    return f"{app_url.rstrip('/')}/quotes/{quote.number}?token=" + links.quote_token(quote.number, recipient, until)


def signed_links(links: LinkSigner, app_url: str, quote: Quote, recipient: str) -> tuple[str | None, str]:
    """The quote's link, while it is pending (R19: a quote's links die when it ends), and the
    recipient's quotes page (R14), each signed for this recipient only."""
    app_url = app_url.rstrip("/")
    quote_link = None
    if quote.state.pending and quote.expires_at:
        quote_link = f"{app_url}/quotes/{quote.number}?token=" + links.quote_token(
            quote.number, recipient, quote.expires_at
        )
    sent = quote.sent_at or quote.created_at or datetime.now(UTC)
    page_link = f"{app_url}/customers/{quote.csn}/quotes?token=" + links.customer_token(
        quote.csn, recipient, sent + QUOTES_PAGE_LIFETIME
    )
    return quote_link, page_link
