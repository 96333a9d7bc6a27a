"""HSTS: a buyer who once reached the app over HTTPS never again sends its link's token in clear.

Sent only on responses to HTTPS requests (RFC 6797 §7.2: a browser ignores it over HTTP, and an app
that is only served over plain HTTP, like `renewals dev`, must not pin itself to HTTPS). Behind the
TLS-terminating proxy the request's scheme is https once uvicorn trusts the proxy's
`X-Forwarded-Proto` (`FORWARDED_ALLOW_IPS`, docs/operations.md). No `includeSubDomains` and no
`preload`: the app does not own its parent domain's other hosts.
"""

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# One year, as browsers' preload lists and common scanners expect at least.
MAX_AGE = 31_536_000


class StrictTransportSecurity:
    """`Strict-Transport-Security: max-age=...` on every response to an HTTPS request."""

    def __init__(self, app: ASGIApp, max_age: int = MAX_AGE) -> None:
        self.app = app
        self.header = (b"strict-transport-security", f"max-age={max_age}".encode())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("scheme") != "https":
            await self.app(scope, receive, send)
            return

        async def with_hsts(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != self.header[0]]
                message = {**message, "headers": [*headers, self.header]}
            await send(message)

        await self.app(scope, receive, with_hsts)
