"""The API docs in a real browser (Debian's headless Chromium) with every other origin blocked: Swagger UI
loads from this origin only, under the page's strict Content-Security-Policy, and shows the API offline."""

import asyncio

import pytest
import uvicorn

from tests.e2e.test_web_browser import CHROMIUM, CHROMIUM_FLAGS
from tests.helpers import free_port
from tests.unit.test_api_docs import app

pytestmark = [
    pytest.mark.asyncio(loop_scope="session"),
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="no Chromium: install it with `apt-get install chromium` (.ci/run does) to run the browser test",
    ),
]


async def test_api_docs_show_the_api_with_other_origins_blocked_in_chromium(tmp_path) -> None:
    from playwright.async_api import async_playwright

    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    server = uvicorn.Server(uvicorn.Config(app(), host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:
            await asyncio.sleep(0.05)
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
            page = await browser.new_page()
            elsewhere: list[str] = []
            said: list[str] = []
            errors: list[str] = []

            async def only_this_origin(route) -> None:
                if route.request.url.startswith(f"{origin}/"):
                    await route.continue_()
                else:
                    elsewhere.append(route.request.url)
                    await route.abort()

            await page.route("**/*", only_this_origin)
            page.on("console", lambda message: said.append(message.text))
            page.on("pageerror", lambda error: errors.append(str(error)))
            await page.goto(f"{origin}/api/v1/docs")
            await page.wait_for_selector("text=Renewal quotes API", timeout=20_000)
            await page.wait_for_selector("#operations-default-create_quote_quotes_post", timeout=20_000)
            await page.screenshot(path=str(tmp_path / "docs.png"), full_page=True)
            await browser.close()
    finally:
        server.should_exit = True
        await serving
    assert elsewhere == [] and errors == []
    assert not [text for text in said if "Content Security Policy" in text or "Refused to" in text], said
