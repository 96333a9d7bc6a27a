"""What every buyer page gets: strict headers, no link token in any log, and a limit on POSTs.

The signed link's token is a bearer secret in the query string, so pages are never cached, never
framed, never leak it in a Referer, and the access log writes paths without their query.
"""

import logging
from urllib.parse import urlsplit

from limits import RateLimitItemPerMinute
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter
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
        # The API's interactive docs page loads Swagger UI's script: no strict CSP there.
        docs = scope["path"] == "/api/v1/docs"

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"cache-control" or static]
                headers += [h for h in HEADERS if not (docs and h[0] == b"content-security-policy")]
                if not static:
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


class RedactQuery(logging.Filter):
    """Access log lines keep the path and drop the query string, where the link token is."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and len(record.args) >= 3 and isinstance(record.args[2], str):
            path = urlsplit(record.args[2]).path
            record.args = (*record.args[:2], path, *record.args[3:])
        return True


def redact_access_log() -> None:
    logging.getLogger("uvicorn.access").addFilter(RedactQuery())


class PostLimit:
    """At most `per_token` POSTs a minute for one link and `per_address` for one client address
    (card testing, guessing); the limits are kept in this process's memory."""

    def __init__(self, per_token: int = 10, per_address: int = 30) -> None:
        self.limiter = MovingWindowRateLimiter(MemoryStorage())
        self.per_token = RateLimitItemPerMinute(per_token)
        self.per_address = RateLimitItemPerMinute(per_address)

    async def allow(self, token: str, address: str) -> bool:
        by_address = await self.limiter.hit(self.per_address, "address", address)
        by_token = await self.limiter.hit(self.per_token, "token", token)
        return by_address and by_token
