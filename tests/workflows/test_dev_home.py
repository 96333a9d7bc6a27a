"""`renewals dev`'s landing page says what is left to do with the demo quote as it stands in the store: accept and
pay it while sent, pay it once accepted, and once paid, that its link opens its receipt; on a real worker,
PostgreSQL and SMTP."""

import html
import re

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from domain.links import LinkSigner
from tests.helpers import BASE, CARD, form_fields, quote_stack, request, settled
from tests.workflows.test_receipt import emailed_links
from web import home
from web.app import create_app
from web.dev_mail import enable_dev_pages

pytestmark = pytest.mark.asyncio(loop_scope="session")


def demo_line(page: httpx.Response) -> str:
    found = re.search(r'<p id="demo-quote">(.*?)</p>', page.text, re.S)
    assert found is not None, page.text
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", found.group(1))).split())


async def test_dev_home_follows_the_demo_quotes_state_sent_accepted_paid(
    env: WorkflowEnvironment, pool, settings, mailbox, gateway, tmp_path, monkeypatch
) -> None:
    async with quote_stack(env, pool, settings, gateway=gateway) as quotes:
        app = create_app(lambda: quotes, LinkSigner(settings.require_link_secrets()), lambda: gateway)
        enable_dev_pages(app, "http://localhost:8233", tmp_path / "mail")
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as web:
            monkeypatch.setattr(home, "DEMO_QUOTE", "Q-000000")  # the demo data not loaded: no such quote
            unseeded = await web.get("/")
            assert unseeded.status_code == 200 and 'id="demo-quote"' not in unseeded.text

            quote = await quotes.create(request("SUB-1001", "SUB-1003", recipients=["cfo@acme.example"]), send=True)
            monkeypatch.setattr(home, "DEMO_QUOTE", quote.number)  # this store numbers its quotes its own way
            await settled(env.client, quote.number)
            sent = demo_line(await web.get("/"))
            assert sent.startswith(f"The demo quote, {quote.number}, is sent:") and '"Accept and pay"' in sent

            await quotes.accept(quote.number)
            accepted = demo_line(await web.get("/"))
            assert "is accepted:" in accepted and '"Pay"' in accepted and "Accept and pay" not in accepted

            link, _ = emailed_links(mailbox, quote.number, "buyer@acme.example")
            pay_page = await web.get(link.replace(f"/quotes/{quote.number}?", f"/quotes/{quote.number}/pay?"))
            fields = form_fields(pay_page.text, f"/quotes/{quote.number}/pay")
            assert (await web.post(f"/quotes/{quote.number}/pay", data=fields | CARD)).status_code == 200
            paid = demo_line(await web.get("/"))
            assert "is paid:" in paid and "receipt" in paid and "Pay" not in paid
            assert f"renewals quote link {quote.number} prints its link." in paid
