"""The backend API's docs (/api/v1/docs) load Swagger UI from this origin only: its script, stylesheet and
icon come from the installed package, the page's own start-up script too, and its Content-Security-Policy
allows nothing else (no CDN, no inline script, no eval). Nothing of it needs an API key."""

import re
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

from domain.links import LinkSigner
from runtime.settings import ApiKey
from web.api import ApiKeyGate, create_api
from web.api_docs import OPEN_PATHS
from web.app import create_app

BASE = "http://buyer.test"
KEY = "rk_docs_test_key_0123456789abcdef"
CONTENT_TYPES = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}


def app():
    api = create_api(lambda: None, [ApiKey(name="test", key=KEY, scope="write")])  # type: ignore[arg-type,return-value]
    return create_app(lambda: None, LinkSigner(["docs-test-secret-0123456789abcdef"]), lambda: None, api=api)  # type: ignore[arg-type,return-value]


def directives(policy: str) -> dict[str, list[str]]:
    return {d.split()[0]: d.split()[1:] for d in (part.strip() for part in policy.split(";")) if d}


async def test_api_docs_load_no_script_from_another_origin() -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app()), base_url=BASE) as web:
        docs = await web.get("/api/v1/docs")  # no API key
        assert docs.status_code == 200 and docs.headers["content-type"].startswith("text/html")
        loaded = re.findall(r'(?:src|href)="([^"]*)"', docs.text) + re.findall(r'data-openapi="([^"]*)"', docs.text)
        assert len(loaded) == 5, loaded  # stylesheet, icon, Swagger UI, its start-up, the OpenAPI document
        assert "<script>" not in docs.text and "cdn" not in docs.text.lower()
        for url in loaded:
            absolute = urljoin(str(docs.url), url)
            assert urlsplit(absolute).netloc == urlsplit(BASE).netloc and url.startswith("/api/v1/"), url
            answer = await web.get(absolute)
            assert answer.status_code == 200, url
            suffix = url[url.rfind(".") :]
            expected = CONTENT_TYPES.get(suffix, "application/json")
            assert answer.headers["content-type"].startswith(expected), (url, answer.headers["content-type"])
            assert answer.headers["x-content-type-options"] == "nosniff"
        bundle = await web.get("/api/v1/docs/swagger-ui-bundle.js")
        assert len(bundle.content) > 500_000 and b"SwaggerUIBundle" in bundle.content
        init = (await web.get("/api/v1/docs/init.js")).text
        assert "SwaggerUIBundle(" in init and "validatorUrl: null" in init
        # FastAPI's CDN pages are gone, ReDoc's too, and the rest of the API still wants its key.
        for gone in ("/api/v1/redoc", "/api/v1/docs/oauth2-redirect", "/api/v1/docs/redoc.standalone.js"):
            assert (await web.get(gone)).status_code in (401, 404), gone
        assert (await web.get("/api/v1/quotes")).status_code == 401


async def test_api_docs_csp_allows_only_self() -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app()), base_url=BASE) as web:
        docs = await web.get("/api/v1/docs")
    policies = docs.headers.get_list("content-security-policy")
    assert len(policies) == 1, policies
    policy = directives(policies[0])
    assert policy["default-src"] == ["'none'"]
    assert policy["script-src"] == ["'self'"] and policy["style-src"] == ["'self'"]
    assert policy["connect-src"] == ["'self'"] and policy["img-src"] == ["'self'", "data:"]
    assert policy["frame-ancestors"] == ["'none'"] and policy["base-uri"] == ["'none'"]
    for name, sources in policy.items():
        for source in sources:
            # Keywords and the stylesheet's data: icons only; no host, no scheme that reaches one, no wildcard.
            assert source in ("'self'", "'none'") or (name == "img-src" and source == "data:"), (name, source)


@pytest.mark.parametrize("path", OPEN_PATHS)
def test_api_docs_paths_need_no_api_key(path: str) -> None:
    assert path in ApiKeyGate.OPEN
