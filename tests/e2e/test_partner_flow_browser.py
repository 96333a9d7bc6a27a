"""R26, R23, R27 in a real browser (Debian's headless Chromium): the buyer asks the partner for changes from
the quote's page, the partner answers with a revision, and the buyer accepts it with a purchase order number
and pays; the receipt shows the number. Each page is photographed and axe-core finds no violation at all."""

import asyncio
import io
import re

import pytest
import uvicorn
from pypdf import PdfReader
from temporalio.testing import WorkflowEnvironment

from domain.links import LinkSigner
from domain.quotes import Origin, QuoteState
from domain.revisions import Revision
from runtime.temporal import build_worker
from tests.e2e.test_account_browser import Tour
from tests.e2e.test_web_browser import CHROMIUM, CHROMIUM_FLAGS
from tests.helpers import free_port, quote_result, quote_stack, request, settled, until
from web.app import create_app

pytestmark = [
    pytest.mark.asyncio(loop_scope="session"),
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="no Chromium: install it with `apt-get install chromium` (.ci/run does) to run the browser test",
    ),
]

BUYER = "buyer@acme.example"
PARTNER = "quotes@cadpartners.example"
PO = "PO-ACME-2027-0042"


class StrictTour(Tour):
    """Every axe finding counts, whatever its impact."""

    SERIOUS = ("minor", "moderate", "serious", "critical")


def link_in(mailbox, number: str) -> str:
    message = next(m for m in mailbox.messages() if m["To"] == BUYER and f"quote {number}" in m["Subject"])
    html = message.get_body(("html",)).get_content()
    return re.search(r'href="(http://127\.0\.0\.1:\d+/quotes/[^"]+)"', html).group(1).replace("&amp;", "&")


async def test_r26_r23_r27_buyer_asks_for_changes_gets_a_revision_and_pays_it_with_a_po_in_chromium(
    env: WorkflowEnvironment, pool, settings, mailbox, gateway, tmp_path
) -> None:
    from playwright.async_api import async_playwright

    port = free_port()
    settings = settings.model_copy(update={"buyer_app_url": f"http://127.0.0.1:{port}"})
    worker = build_worker(env.client, pool, settings, gateway)
    async with quote_stack(env, pool, settings, worker=worker, gateway=gateway) as quotes:
        app = create_app(lambda: quotes, LinkSigner(settings.require_link_secrets()), lambda: gateway)
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
        serving = asyncio.create_task(server.serve())
        try:
            while not server.started:
                await asyncio.sleep(0.05)
            first = await quotes.create(request("SUB-1008", origin=Origin.PARTNER), send=True)
            await settled(env.client, first.number)
            tour = StrictTour(tmp_path / "screenshots")
            async with async_playwright() as p:
                browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
                page = await browser.new_page(viewport={"width": 390, "height": 844})

                # The buyer asks the partner for more seats (R26).
                await page.goto(link_in(mailbox, first.number))
                await tour.look(page, "quote")
                await page.check("input[name=kind][value=changes_requested]")
                await page.fill("#answer-message", "We grew: please make it 5 seats.")
                await page.click("#send-answer")
                await page.wait_for_selector("text=Your request for changes is sent")
                assert "please make it 5 seats" in await page.text_content("#answer-1")
                await tour.look(page, "changes-requested")

                async def partner_told():
                    return [m for m in mailbox.messages() if m["To"] == PARTNER] or None

                told = await until(partner_told, "the partner's email")
                assert "please make it 5 seats" in told[0].get_body(("plain",)).get_content()

                # The partner answers with a revision (R23), sent at once: the first quote steps aside.
                revision = await quotes.revise(
                    first.number, Revision(seats={"SUB-1008": 5}, origin=Origin.PARTNER), send=True
                )
                await settled(env.client, revision.number)
                assert (await quotes.show(first.number)).state is QuoteState.CANCELLED

                # The buyer accepts the revision with a purchase order number and pays (R27).
                await page.goto(link_in(mailbox, revision.number))
                await page.click("text=Accept and pay")
                await tour.look(page, "pay")
                await page.fill("#purchase_order", PO)
                await page.fill("#holder", "Ann Buyer")
                await page.fill("#card_number", "4242 4242 4242 4242")
                await page.fill("#expiry", "12/29")
                await page.fill("#cvc", "123")
                await page.click("form[action$='/pay'] button[type=submit]")
                await page.wait_for_selector("text=the quote is paid")
                assert (await page.text_content("#purchase-order")).strip() == PO
                await tour.look(page, "receipt")
                pdf = await page.request.get(
                    f"http://127.0.0.1:{port}" + (await page.get_attribute("#pdf", "href") or "")
                )
                assert PO in " ".join(p.extract_text() for p in PdfReader(io.BytesIO(await pdf.body())).pages)
                await browser.close()
            paid = await quote_result(env.client, revision.number)
            assert paid.state is QuoteState.PAID
        finally:
            server.should_exit = True
            await serving
