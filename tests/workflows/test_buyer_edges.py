"""The input edge with its real parts (the time-skipping server, PostgreSQL, the mail sink): a NUL never reaches
the store or a workflow, a quote's PDF answers as its page, and a buyer's page never names another customer
(findings 4, 5 and 6 of the attack on 518b699)."""

import asyncio
from contextlib import asynccontextmanager

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from domain.errors import PaymentDeclined
from domain.links import LinkSigner
from domain.quotes import QuoteState
from payments.gateway import Card
from runtime.app import open_app
from runtime.settings import parse_api_keys
from tests.helpers import BASE, CARD, form_fields, link_of, quote_result, quote_stack, request, scalar, settled
from tests.workflows.test_account import account_site, signed_in
from tests.workflows.test_api import AUTH, KEY, body
from tests.workflows.test_quote_pdf import pdf_path
from web.api import create_api
from web.app import create_app
from workers.demo_data import DE_VRIES

pytestmark = pytest.mark.asyncio(loop_scope="session")


GOOD = Card(holder="A. Buyer", number="4242 4242 4242 4242", expiry="12/29", cvc="123")


def buyer_site(quotes, settings, gateway) -> httpx.AsyncClient:
    app = create_app(lambda: quotes, LinkSigner(settings.require_link_secrets()), lambda: gateway)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE)


@asynccontextmanager
async def buyer_and_api(env: WorkflowEnvironment, pool, settings, gateway):
    """The buyer app with the API mounted, and the quote service in process (past the edge)."""
    async with quote_stack(env, pool, settings, gateway=gateway) as quotes:
        today = (await env.get_current_time()).date()
        async with open_app(settings, pool=pool, client=env.client, today=today) as opened:
            app = create_app(
                lambda: quotes,
                LinkSigner(settings.require_link_secrets()),
                lambda: gateway,
                api=create_api(lambda: opened, parse_api_keys(f"test:{KEY}:write")),
            )
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as web:
                yield quotes, web


async def test_a_nul_in_the_account_quotes_key_gets_400_not_500(
    env: WorkflowEnvironment, pool, settings, mailbox
) -> None:
    """On 518b699 the form's key reached PostgreSQL, whose text cannot hold a NUL: a DataError and a 500."""
    async with account_site(env, pool, settings) as (_quotes, web):
        await signed_in(web, mailbox)
        review = await web.get("/account/renew/review", params={"ids": "SUB-1001"})
        fields = form_fields(review.text, "/account/quotes") | {"ids": "SUB-1001", "key": "k\x00ey"}
        answer = await web.post("/account/quotes", data=fields)
        assert answer.status_code == 400 and "control character" in answer.text
        # The same form without the NUL makes its quote: the session and the form were good.
        made = await web.post("/account/quotes", data=fields | {"key": "key"})
        assert made.status_code == 303
    assert await scalar(pool, "SELECT count(*) FROM quotes") == 1


async def test_a_nul_in_payment_method_is_refused_at_the_edge_and_never_retried(
    env: WorkflowEnvironment, pool, settings, gateway
) -> None:
    """The API refuses it (422, naming the field, the quote unchanged); a caller that gets past the edge (the
    service, in process) hears "declined" at once, nothing charged, the quote still payable."""
    async with buyer_and_api(env, pool, settings, gateway) as (quotes, api):
        number = (await api.post("/api/v1/quotes", json=body(send=True), headers=AUTH)).json()["number"]
        token = await gateway.tokenize(GOOD)
        refused = [
            await api.post(f"/api/v1/quotes/{number}/pay", json={"payment_method": token + "\x00"}, headers=AUTH),
            await api.post(
                f"/api/v1/quotes/{number}/accept", json={"pay": True, "payment_method": "\x00"}, headers=AUTH
            ),
        ]
        for answer in refused:
            assert answer.status_code == 422, answer.text
            assert answer.json()["error"]["field"] == "payment_method"
        shown = (await api.get(f"/api/v1/quotes/{number}", headers=AUTH)).json()
        assert shown["state"] == "sent"

        with pytest.raises(PaymentDeclined) as declined:
            await asyncio.wait_for(quotes.accept(number, pay=True, payment_method=token + "\x00"), 60)
        assert "enter your card again" in declined.value.message
        after = await quotes.show(number)
        assert after.state is QuoteState.ACCEPTED and after.payment is None
        paid = await quotes.pay(number, payment_method=token)
        assert paid.state is QuoteState.PAID
    assert gateway.charge_calls[f"quote-{number}"] == 1  # the token with a NUL never reached the provider
    assert await scalar(pool, "SELECT count(*) FROM payments") == 1


async def test_the_pdf_of_an_ended_quote_answers_410_like_its_page(
    env: WorkflowEnvironment, pool, settings, mailbox, gateway
) -> None:
    """On 518b699 a cancelled or expired quote's PDF was served (200) while its page said 410."""
    async with quote_stack(env, pool, settings, gateway=gateway) as quotes:
        cancelled = await quotes.create(request("SUB-1001"), send=True)
        paid = await quotes.create(request("SUB-1003"), send=True)
        for quote in (cancelled, paid):
            await settled(env.client, quote.number)
        async with buyer_site(quotes, settings, gateway) as web:
            link, paid_link = link_of(mailbox, cancelled.number), link_of(mailbox, paid.number)
            assert (await web.get(pdf_path(link))).status_code == 200  # while it is sent
            await quotes.cancel(cancelled.number, "sales")
            page, document = await web.get(link), await web.get(pdf_path(link))
            assert (page.status_code, document.status_code) == (410, 410)
            assert document.headers["content-type"].startswith("text/html") and b"%PDF" not in document.content
            assert document.text == page.text  # the same page: how it ended

            fields = form_fields((await web.get(paid_link.replace("?", "/pay?", 1))).text, f"/quotes/{paid.number}/pay")
            await web.post(f"/quotes/{paid.number}/pay", data=fields | CARD)
            assert (await quote_result(env.client, paid.number)).state.value == "paid"
            page, document = await web.get(paid_link), await web.get(pdf_path(paid_link))
            assert (page.status_code, document.status_code) == (200, 200)  # the receipt, and its PDF
            assert document.headers["content-type"] == "application/pdf"

            token = link.split("token=", 1)[1]
            unknown = [
                await web.get(f"/quotes/Q-999999?token={token}"),
                await web.get(f"/quotes/Q-999999.pdf?token={token}"),
            ]
            assert [u.status_code for u in unknown] == [403, 403]  # a link for another quote, both alike


async def test_r21_buyer_refusal_names_no_other_customer(
    env: WorkflowEnvironment, pool, settings, mailbox, gateway
) -> None:
    """A load gave SUB-1001 to De Vries; Acme's buyer pays the old quote: refused (R21) in words that name
    neither De Vries's CSN nor its quotes, on the pay answer and the quote's page alike. The API's caller
    keeps the detail."""
    async with buyer_and_api(env, pool, settings, gateway) as (quotes, api):
        quote = await quotes.create(request("SUB-1001"), send=True)
        await settled(env.client, quote.number)
        async with pool.connection() as conn:  # the load's write (its telling of the calendar failed)
            await conn.execute("UPDATE subscriptions SET csn = %s WHERE id = 'SUB-1001'", (DE_VRIES,))
        link = link_of(mailbox, quote.number)
        pay_form = await api.get(link.replace("?", "/pay?", 1))
        fields = form_fields(pay_form.text, f"/quotes/{quote.number}/pay")
        answer = await api.post(f"/quotes/{quote.number}/pay", data=fields | CARD)
        page = await api.get(link)
        shown = (await api.get(f"/api/v1/quotes/{quote.number}", headers=AUTH)).json()
    assert answer.status_code == 409 and page.status_code == 410
    for text in (answer.text, page.text):
        assert DE_VRIES not in text and "another customer" in text, text
    assert DE_VRIES in shown["cancel_reason"]  # the API keeps the detail


async def test_r21_the_superseded_email_names_no_other_customer(
    env: WorkflowEnvironment, pool, settings, mailbox, gateway
) -> None:
    """The quote that ended because SUB-1001 moved to De Vries tells Acme's contacts so by mail: in words
    that name neither De Vries's CSN nor its quotes (on 518b699 the mail carried the reason as it was)."""
    async with buyer_and_api(env, pool, settings, gateway) as (quotes, api):
        quote = await quotes.create(request("SUB-1001"), send=True)
        await settled(env.client, quote.number)
        async with pool.connection() as conn:
            await conn.execute("UPDATE subscriptions SET csn = %s WHERE id = 'SUB-1001'", (DE_VRIES,))
        link = link_of(mailbox, quote.number)
        fields = form_fields((await api.get(link.replace("?", "/pay?", 1))).text, f"/quotes/{quote.number}/pay")
        assert (await api.post(f"/quotes/{quote.number}/pay", data=fields | CARD)).status_code == 409
        for _ in range(100):
            ended = [m for m in mailbox.messages() if m["Subject"].startswith("No longer valid")]
            if ended:
                break
            await asyncio.sleep(0.05)
    assert ended, "no mail told the buyer the quote ended"
    for message in ended:
        for part in (message.get_body(("plain",)), message.get_body(("html",))):
            text = part.get_content()
            assert DE_VRIES not in text and "another customer" in text, text
