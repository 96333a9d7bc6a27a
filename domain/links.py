"""Signed buyer links (R13, R14): a token bound to a quote (or a customer), a recipient and an expiry."""

import hashlib
import hmac
from datetime import datetime, timezone

from itsdangerous import BadSignature, URLSafeSerializer


class LinkRefused(Exception):
    """No token, a tampered one, another quote's, or an expired one."""


class LinkSigner:
    def __init__(self, secret: str) -> None:
        if not secret:
            raise ValueError("a buyer link secret is required (BUYER_LINK_SECRET)")
        self._secret = secret.encode()
        self._serializer = URLSafeSerializer(secret, salt="renewals-buyer-link")

    def quote_token(self, number: str, recipient: str, expires_at: datetime) -> str:
        return self._serializer.dumps({"q": number, "r": recipient, "e": int(expires_at.timestamp())})

    def customer_token(self, csn: str, recipient: str, expires_at: datetime) -> str:
        return self._serializer.dumps({"c": csn, "r": recipient, "e": int(expires_at.timestamp())})

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
        return hmac.new(self._secret, f"csrf|{token}".encode(), hashlib.sha256).hexdigest()

    def check_csrf(self, token: str, value: str | None) -> None:
        if not value or not hmac.compare_digest(self.csrf(token), value):
            raise LinkRefused("the form is not one this site served")

    def _claims(self, token: str | None, now: datetime) -> dict:
        if not token:
            raise LinkRefused("the link has no token")
        try:
            claims = self._serializer.loads(token)
        except BadSignature:
            raise LinkRefused("the link is not valid") from None
        if not isinstance(claims, dict) or datetime.fromtimestamp(claims.get("e", 0), timezone.utc) <= now:
            raise LinkRefused("the link has expired")
        return claims
