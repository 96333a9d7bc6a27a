"""What every buyer page gets: strict headers, no link token in any log, a limit on POSTs and on bodies.

The signed link's token is a bearer secret in the query string, so pages are never cached, never
framed, never leak it in a Referer, and the access log writes paths without their query.
"""

import ipaddress
import logging
import re
from urllib.parse import urlsplit

from limits import RateLimitItemPerMinute
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# The pages use no script; styles and images come from this site only.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = [
    (b"referrer-policy", b"no-referrer"),
    (b"x-content-type-options", b"nosniff"),
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-frame-options", b"DENY"),
]


class SecurityHeaders:
    """Every response gets HEADERS; every page that is not a static file is `Cache-Control: no-store`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith("/static/")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"cache-control" or static]
                # A route that sets its own policy or framing keeps it (renewals dev's mail pages, web/dev_mail.py;
                # the API docs, whose scripts come from this origin only, web/api_docs.py); any other gets ours.
                own = {k.lower() for k, _v in headers}
                headers += [h for h in HEADERS if h[0] not in own]
                if not static:
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


# The account's one-time sign-in link carries its token in the path.
SIGN_IN_PATH = re.compile(r"^(/account/sign-in/)[^/]+")


class RedactQuery(logging.Filter):
    """Access log lines keep the path and drop the query string, where the link token is (and the sign-in
    link's token, in its path)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and len(record.args) >= 3 and isinstance(record.args[2], str):
            path = SIGN_IN_PATH.sub(r"\1…", urlsplit(record.args[2]).path)
            record.args = (*record.args[:2], path, *record.args[3:])
        return True


def redact_access_log() -> None:
    logging.getLogger("uvicorn.access").addFilter(RedactQuery())


class PostLimit:
    """POSTs a minute: at most `per_token` for one valid link, and at most `per_address` with links that
    are not valid from one client address (card testing, guessing). Guesses are counted by address and
    real links by their token, so a guesser behind the same proxy as a buyer never locks the buyer out.
    The limits are kept in this process's memory."""

    def __init__(
        self, per_token: int = 10, per_address: int = 30, per_sign_in_address: int = 10, per_sign_in_email: int = 3
    ) -> None:
        self.limiter = MovingWindowRateLimiter(MemoryStorage())
        self.per_token = RateLimitItemPerMinute(per_token)
        self.per_address = RateLimitItemPerMinute(per_address)
        self.per_sign_in_address = RateLimitItemPerMinute(per_sign_in_address)
        self.per_sign_in_email = RateLimitItemPerMinute(per_sign_in_email)

    async def allow_link(self, token: str) -> bool:
        return await self.limiter.hit(self.per_token, "token", token)

    async def allow_guess(self, address: str) -> bool:
        return await self.limiter.hit(self.per_address, "address", address)

    async def allow_sign_in(self, email: str, address: str) -> tuple[bool, bool]:
        """The account's sign-in form (R24): (this client address may ask again, this email may be sent
        another link). Over the first a client is told to wait; over the second it is told nothing new."""
        by_address = await self.limiter.hit(self.per_sign_in_address, "sign-in-address", client_network(address))
        by_email = await self.limiter.hit(self.per_sign_in_email, "sign-in-email", email.strip().lower())
        return by_address, by_email


def client_network(address: str) -> str:
    """An IPv6 client is counted by its /64 (one host commonly holds all of it); IPv4 by its address."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    return str(ipaddress.ip_network(f"{ip}/64", strict=False)) if ip.version == 6 else str(ip)


class TooLarge(BaseException):
    """Raised from a body's receive: a BaseException, so that no body parser's `except Exception` turns it
    into a 400 on its way back to BodyLimit."""


class BodyLimit:
    """Request bodies larger than their route's limit are refused with 413 before anything parses them:
    at once from Content-Length, and while a body without one streams in. The API (`api_prefix`) takes
    `api_bytes`, the buyer pages' forms `form_bytes`."""

    def __init__(
        self, app: ASGIApp, api_bytes: int = 1 << 20, form_bytes: int = 64 << 10, api_prefix: str = "/api/"
    ) -> None:
        self.app = app
        self.api_bytes, self.form_bytes, self.api_prefix = api_bytes, form_bytes, api_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        api = scope["path"].startswith(self.api_prefix)
        limit = self.api_bytes if api else self.form_bytes
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _too_large(api, limit)(scope, receive, send)
            return
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise TooLarge()
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except TooLarge:
            if started:
                raise
            await _too_large(api, limit)(scope, receive, send)


def _too_large(api: bool, limit: int) -> Response:
    text = f"the request body is larger than {limit:,} bytes"
    if api:
        return JSONResponse({"error": {"message": text}}, status_code=413)
    return PlainTextResponse(f"Too large: {text}.", status_code=413)
