"""The card form in a real browser (Debian's headless Chromium): each refused field's error stands next to it,
the field says it is invalid and points at its error (aria-invalid, aria-describedby), and axe finds nothing
serious; the buyer then pays with the card typed right."""

import asyncio
import re

import pytest
import uvicorn
from temporalio.testing import WorkflowEnvironment

from domain.links import LinkSigner
from runtime.temporal import build_worker
from tests.e2e.test_web_browser import CHROMIUM, CHROMIUM_FLAGS
from tests.helpers import free_port, quote_result, quote_stack, request, settled
from web.app import create_app

pytestmark = [
    pytest.mark.asyncio(loop_scope="session"),
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="no Chromium: install it with `apt-get install chromium` (.ci/run does) to run the browser test",
    ),
]


async def test_an_expired_card_is_refused_next_to_its_field_in_chromium(
    env: WorkflowEnvironment, pool, settings, mailbox, gateway, tmp_path
) -> None:
    from playwright.async_api import async_playwright

    from tests.e2e.test_account_browser import Tour

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
            quote = await quotes.create(request("SUB-1001"), send=True)
            await settled(env.client, quote.number)
            message = next(m for m in mailbox.messages() if quote.number in m["Subject"])
            link = re.search(r"(http://127\.0\.0\.1:\d+/quotes/\S+)", message.get_body(("plain",)).get_content())
            async with async_playwright() as p:
                browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
                page = await browser.new_page(viewport={"width": 390, "height": 844})
                tour = Tour(tmp_path / "screenshots")
                await page.goto(link.group(1))
                await page.click("text=Accept and pay")
                await page.fill("#holder", "Carla Fo")
                await page.fill("#card_number", "4242 4242 4242 4241")
                await page.fill("#expiry", "01/20")
                await page.fill("#cvc", "12")
                await page.click("button[type=submit]")
                await page.wait_for_selector("#expiry-error")
                assert await page.text_content("#expiry-error") == "This card has expired."
                assert await page.text_content("#card_number-error") == "This card number is not valid."
                assert await page.text_content("#cvc-error") == "The security code (CVC) has 3 or 4 digits."
                for field in ("expiry", "card_number", "cvc"):
                    assert await page.get_attribute(f"#{field}", "aria-invalid") == "true"
                    assert await page.get_attribute(f"#{field}", "aria-describedby") == f"{field}-error"
                    # Next to its field: the error follows the field's own input in the form.
                    follows = await page.evaluate(
                        "f => document.getElementById(f).compareDocumentPosition("
                        "document.getElementById(f + '-error')) & Node.DOCUMENT_POSITION_FOLLOWING",
                        field,
                    )
                    assert follows
                assert await page.get_attribute("#holder", "aria-invalid") is None
                await tour.look(page, "pay-refused-fields")
                await page.set_viewport_size({"width": 1000, "height": 760})
                await tour.look(page, "pay-refused-fields-wide")

                await page.fill("#holder", "Carla Fo")
                await page.fill("#card_number", "4242 4242 4242 4242")
                await page.fill("#expiry", "12/29")
                await page.fill("#cvc", "123")
                await page.click("button[type=submit]")
                await page.wait_for_selector("text=the quote is paid")
                await browser.close()
            assert (await quote_result(env.client, quote.number)).state.value == "paid"
        finally:
            server.should_exit = True
            await serving
