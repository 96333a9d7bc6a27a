"""R14: the buyer's button says what is left to do: "Accept and pay" on a sent quote, "Pay" once it is accepted
(the quote page, the pay page's title and its button), in English and Dutch."""

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from domain.links import LinkSigner
from tests.helpers import BASE, quote_stack, request, settled
from tests.workflows.test_receipt import emailed_links
from web.app import create_app

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_r14_an_accepted_quote_offers_pay_not_accept_and_pay(
    env: WorkflowEnvironment, pool, settings, mailbox, gateway
) -> None:
    async with quote_stack(env, pool, settings, gateway=gateway) as quotes:
        app = create_app(lambda: quotes, LinkSigner(settings.require_link_secrets()), lambda: gateway)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as web:
            quote = await quotes.create(request("SUB-1001"), send=True)
            await settled(env.client, quote.number)
            link, _ = emailed_links(mailbox, quote.number, "buyer@acme.example")
            sent_page = await web.get(link)
            await quotes.accept(quote.number)
            accepted_page = await web.get(link)
            pay_page = await web.get(f"/quotes/{quote.number}/pay", params={"token": link.split("token=")[1]})
            dutch = await web.get(link, headers={"Cookie": "renewals_lang=nl"})  # the switch's choice
    assert ">Accept and pay</a>" in sent_page.text
    assert ">Pay</a>" in accepted_page.text and "Accept and pay" not in accepted_page.text
    assert f"<h1>Pay {quote.number}</h1>" in pay_page.text and "Accept and pay" not in pay_page.text
    assert ">Betalen</a>" in dutch.text
