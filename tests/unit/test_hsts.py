"""HSTS (issue 20, item 9): the buyer app pins browsers to HTTPS once they reached it over HTTPS, also behind
the TLS-terminating proxy, and never says so over plain HTTP (`renewals dev`)."""

import httpx
import pytest
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from domain.links import LinkSigner
from web.app import create_app
from web.security_headers import MAX_AGE, StrictTransportSecurity

pytestmark = pytest.mark.asyncio(loop_scope="session")


def buyer_app():
    """The buyer app as `renewals web` builds it; /healthz and /static need no quote service."""
    return create_app(lambda: None, LinkSigner("s" * 32), lambda: None)  # type: ignore[arg-type,return-value]


async def get(app, base: str, path: str, **headers: str) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base) as client:
        return await client.get(path, headers=headers)


async def test_hsts_sent_over_https() -> None:
    for path in ("/healthz", "/static/style.css", "/nowhere"):
        answer = await get(buyer_app(), "https://quotes.example.com", path)
        assert answer.headers.get_list("strict-transport-security") == [f"max-age={MAX_AGE}"], path
    assert MAX_AGE >= 31_536_000


async def test_hsts_not_sent_over_plain_http() -> None:
    answer = await get(buyer_app(), "http://localhost:8000", "/healthz")
    assert answer.status_code == 200 and "strict-transport-security" not in answer.headers


async def test_hsts_sent_behind_the_trusted_proxy_only() -> None:
    """uvicorn's proxy headers (FORWARDED_ALLOW_IPS) make the scheme https for the proxy's requests only."""
    behind = ProxyHeadersMiddleware(buyer_app(), trusted_hosts="127.0.0.1")  # type: ignore[arg-type]
    proxied = await get(behind, "http://web:8000", "/healthz", **{"x-forwarded-proto": "https"})
    assert proxied.headers["strict-transport-security"] == f"max-age={MAX_AGE}"
    elsewhere = ProxyHeadersMiddleware(buyer_app(), trusted_hosts="172.30.57.0/24")  # type: ignore[arg-type]
    spoofed = await get(elsewhere, "http://web:8000", "/healthz", **{"x-forwarded-proto": "https"})
    assert "strict-transport-security" not in spoofed.headers


async def test_hsts_is_sent_once_when_a_response_already_has_it() -> None:
    twice = StrictTransportSecurity(buyer_app(), max_age=60)
    answer = await get(twice, "https://quotes.example.com", "/healthz")
    assert answer.headers.get_list("strict-transport-security") == ["max-age=60"]
