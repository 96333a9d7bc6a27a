"""A buyer in a real browser (Debian's headless Chromium): opens the link from a real email, accepts and pays,
and sees the receipt."""

import asyncio
import re
import shutil

import pytest
import uvicorn
from temporalio.testing import WorkflowEnvironment

from domain.links import LinkSigner
from runtime.temporal import build_worker
from tests.helpers import free_port, quote_result, quote_stack, request, settled
from web.app import create_app

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = [
    pytest.mark.asyncio(loop_scope="session"),
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="no Chromium: install it with `apt-get install chromium` (.ci/run does) to run the browser test",
    ),
]


async def test_r13_buyer_accepts_and_pays_from_the_email_in_chromium(
    env: WorkflowEnvironment, pool, settings, mailbox, gateway, tmp_path
) -> None:
    from playwright.async_api import async_playwright

    port = free_port()
    settings = settings.model_copy(update={"buyer_app_url": f"http://127.0.0.1:{port}"})
    worker = build_worker(env.client, pool, settings)
    async with quote_stack(env, pool, settings, worker=worker) as quotes:
        app = create_app(lambda: quotes, LinkSigner(settings.require_link_secrets()), lambda: gateway)
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
        serving = asyncio.create_task(server.serve())
        try:
            while not server.started:
                await asyncio.sleep(0.05)
            quote = await quotes.create(request("SUB-1001", recipients=["cfo@acme.example"]), send=True)
            await settled(env.client, quote.number)
            message = next(m for m in mailbox.messages() if m["To"] == "cfo@acme.example")
            link = (
                re.search(r'href="(http://127\.0\.0\.1:\d+/quotes/[^"]+)"', message.get_body(("html",)).get_content())
                .group(1)
                .replace("&amp;", "&")
            )

            async with async_playwright() as p:
                browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
                page = await browser.new_page(viewport={"width": 390, "height": 844})
                await page.goto(link)
                assert await page.text_content("#state") == "sent"
                await page.click("text=Accept and pay")
                await page.fill("#holder", "Carla Fo")
                await page.fill("#card_number", "4242 4242 4242 4242")
                await page.fill("#expiry", "12/29")
                await page.fill("#cvc", "123")
                await page.click("button[type=submit]")
                await page.wait_for_selector("text=the quote is paid")
                assert await page.text_content("#state") == "paid"
                await page.screenshot(path=str(tmp_path / "paid.png"), full_page=True)

                # The page after paying is the receipt (R14): the payment's reference and date, the lines and
                # their new end dates, no action; on a phone and on a desktop, with no serious axe finding.
                from tests.e2e.test_account_browser import Tour

                paid = await quotes.show(quote.number)
                assert (await page.text_content("#reference")).strip() == paid.payment_reference
                assert "UTC" in await page.text_content("#paid-on")
                assert "SUB-1001" in await page.text_content("table") and "€9,135.00" in await page.text_content(
                    "tr.total"
                )
                assert await page.locator("main form, main button").count() == 0
                tour = Tour(tmp_path / "screenshots")
                await tour.look(page, "receipt-phone")
                await page.set_viewport_size({"width": 1000, "height": 760})
                await tour.look(page, "receipt")
                await browser.close()
            assert (await quote_result(env.client, quote.number)).state.value == "paid"
        finally:
            server.should_exit = True
            await serving
