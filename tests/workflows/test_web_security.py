"""The buyer app keeps its link tokens private: strict headers, no token in logs, a limit on POSTs."""

import asyncio
import logging

import httpx
import pytest
import uvicorn
from temporalio.testing import WorkflowEnvironment

from domain.links import LinkSigner
from tests.helpers import BASE, form_fields, free_port, link_of, quote_stack, request, settled
from web.app import create_app
from web.security import PostLimit

pytestmark = pytest.mark.asyncio(loop_scope="session")


def app_for(quotes, settings, gateway, **options):
    return create_app(lambda: quotes, LinkSigner(settings.require_link_secrets()), lambda: gateway, **options)


async def sent(env, quotes) -> str:
    quote = await quotes.create(request("SUB-1001"), send=True)
    await settled(env.client, quote.number)
    return quote.number


async def test_headers_on_every_page(env: WorkflowEnvironment, pool, settings, mailbox, gateway) -> None:
    async with quote_stack(env, pool, settings, gateway=gateway) as quotes:
        transport = httpx.ASGITransport(app=app_for(quotes, settings, gateway))
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as web:
            number = await sent(env, quotes)
            pages = {
                "quote": await web.get(link_of(mailbox, number)),
                "403": await web.get(f"/quotes/{number}"),
                "404": await web.get("/nowhere"),
                "static": await web.get("/static/style.css"),
            }
    for name, page in pages.items():
        assert page.headers["referrer-policy"] == "no-referrer", name
        assert page.headers["x-content-type-options"] == "nosniff", name
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"], name
        assert "default-src 'none'" in page.headers["content-security-policy"], name
    assert pages["quote"].status_code == 200 and pages["quote"].headers["cache-control"] == "no-store"
    assert pages["403"].headers["cache-control"] == "no-store"
    assert "no-store" not in pages["static"].headers.get("cache-control", "")


async def test_post_limit_per_link_answers_429(env: WorkflowEnvironment, pool, settings, mailbox, gateway) -> None:
    async with quote_stack(env, pool, settings, gateway=gateway) as quotes:
        app = app_for(quotes, settings, gateway, post_limit=PostLimit(per_token=3, per_address=100))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as web:
            number = await sent(env, quotes)
            fields = form_fields((await web.get(link_of(mailbox, number))).text, f"/quotes/{number}/accept")
            bad = fields | {"csrf": "0" * 64}
            answers = [(await web.post(f"/quotes/{number}/accept", data=bad)).status_code for _ in range(4)]
            limited = await web.post(f"/quotes/{number}/accept", data=fields)
    assert answers == [403, 403, 403, 429]
    assert limited.status_code == 429 and "Too many attempts" in limited.text
    assert limited.headers["retry-after"] == "60"


async def test_post_limit_per_address_answers_429(env: WorkflowEnvironment, pool, settings, gateway) -> None:
    async with quote_stack(env, pool, settings, gateway=gateway) as quotes:
        app = app_for(quotes, settings, gateway, post_limit=PostLimit(per_token=100, per_address=2))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as web:
            codes = [
                (await web.post(f"/quotes/Q-00000{i}/accept", data={"token": f"guess-{i}", "csrf": "x"})).status_code
                for i in range(3)
            ]
    assert codes == [403, 403, 429]


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


async def test_no_token_in_the_access_log(env: WorkflowEnvironment, pool, settings, mailbox, gateway) -> None:
    port = free_port()
    captured = Lines()
    async with quote_stack(env, pool, settings, gateway=gateway) as quotes:
        server = uvicorn.Server(
            uvicorn.Config(
                app_for(quotes, settings, gateway), host="127.0.0.1", port=port, lifespan="off", access_log=True
            )
        )
        serving = asyncio.create_task(server.serve())
        try:
            while not server.started:
                await asyncio.sleep(0.02)
            number = await sent(env, quotes)
            path = link_of(mailbox, number)
            token = path.split("token=")[1]
            logging.getLogger("uvicorn.access").addHandler(captured)
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as web:
                assert (await web.get(path)).status_code == 200
                assert (await web.get(f"/quotes/{number}", params={"token": token[:-3] + "abc"})).status_code == 403
        finally:
            logging.getLogger("uvicorn.access").removeHandler(captured)
            server.should_exit = True
            await serving
    lines = captured.lines
    assert len(lines) == 2 and all(f"/quotes/{number} " in line for line in lines)
    assert not any("token" in line or token[:20] in line for line in lines)
