"""A quote's pages speak the customer's language, the one its emails use, unless the visitor chose another with
the header's switch (the account's, remembered in the same cookie): the quote, pay, answer and receipt pages, on
a real worker, PostgreSQL and SMTP."""

import re

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from domain.links import LinkSigner
from tests.helpers import BASE, CARD, form_fields, quote_stack, request, settled
from tests.workflows.test_receipt import emailed_links
from web.app import create_app
from web.i18n import COOKIE
from workers.demo_data import DE_VRIES

pytestmark = pytest.mark.asyncio(loop_scope="session")


def lang(page: httpx.Response) -> str:
    found = re.search(r'<html lang="(\w+)">', page.text)
    assert found is not None
    return found.group(1)


def switch(page: httpx.Response, number: str) -> dict[str, str]:
    """The header's language switch: its form's fields, the button's `lang` among them."""
    return form_fields(page.text, f"/quotes/{number}/language")


async def test_quote_link_opens_in_the_customers_language_unless_the_visitor_chose(
    env: WorkflowEnvironment, pool, settings, mailbox, gateway
) -> None:
    async with quote_stack(env, pool, settings, gateway=gateway) as quotes:
        app = create_app(lambda: quotes, LinkSigner(settings.require_link_secrets()), lambda: gateway)

        def browser() -> httpx.AsyncClient:
            return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE)

        dutch = await quotes.create(request("SUB-2001", csn=DE_VRIES, origin="partner"), send=True)
        english = await quotes.create(request("SUB-1001"), send=True)
        await settled(env.client, dutch.number)
        await settled(env.client, english.number)
        nl_link, _ = emailed_links(mailbox, dutch.number, "inkoop@devries.example")
        en_link, _ = emailed_links(mailbox, english.number, "buyer@acme.example")
        number, token = dutch.number, nl_link.split("token=")[1]

        async with browser() as web:
            # The customer's language goes before the browser's.
            page = await web.get(nl_link, headers={"Accept-Language": "en-GB,en;q=0.9"})
            assert lang(page) == "nl" and ">Accepteren en betalen</a>" in page.text
            assert switch(page, number) == {
                "token": token,
                "csrf": switch(page, number)["csrf"],
                "back": "quote",
                "lang": "en",
            }
            assert lang(await web.get(en_link, headers={"Accept-Language": "nl-NL"})) == "en"

            # The switch on the pay page: English from then on, back on the pay page with the link's token.
            pay_page = await web.get(f"/quotes/{number}/pay", params={"token": token})
            assert lang(pay_page) == "nl" and switch(pay_page, number)["back"] == "pay"
            switched = await web.post(f"/quotes/{number}/language", data=switch(pay_page, number))
            assert switched.status_code == 303 and web.cookies[COOKIE] == "en"
            assert switched.headers["location"] == f"/quotes/{number}/pay?token={token}"
            english_pay = await web.get(switched.headers["location"])
            assert lang(english_pay) == "en" and f"<h1>Accept and pay {number}</h1>" in english_pay.text
            assert switch(english_pay, number)["lang"] == "nl"

            # An answer's page keeps its notice through the switch, now in Dutch.
            quote_page = await web.get(nl_link, headers={"Accept-Language": "nl"})
            assert lang(quote_page) == "en"
            answer_form = form_fields(quote_page.text, f"/quotes/{number}/answer")
            asked = await web.post(
                f"/quotes/{number}/answer",
                data=answer_form | {"kind": "changes_requested", "message": "Graag 6 licenties."},
                follow_redirects=True,
            )
            assert lang(asked) == "en" and "Your request for changes is sent" in asked.text
            assert switch(asked, number)["done"] == "changes_requested"
            back = await web.post(f"/quotes/{number}/language", data=switch(asked, number), follow_redirects=True)
            assert lang(back) == "nl" and web.cookies[COOKIE] == "nl"
            assert "Uw verzoek om wijzigingen is naar uw partner" in back.text

        # A switch posted from another site, or with another link's form, changes nothing.
        async with browser() as stranger:
            forged = await stranger.post(
                f"/quotes/{number}/language", data={"token": token, "csrf": "forged", "lang": "en", "back": "quote"}
            )
            assert forged.status_code == 403 and COOKIE not in stranger.cookies

        # Paid: the receipt the buyer lands on is in the customer's language, with the switch.
        async with browser() as buyer:
            pay_page = await buyer.get(f"/quotes/{number}/pay", params={"token": token})
            paid = await buyer.post(
                f"/quotes/{number}/pay", data=form_fields(pay_page.text, f"/quotes/{number}/pay") | CARD
            )
            assert paid.status_code == 200 and lang(paid) == "nl" and "Betaald op" in paid.text
            switched = await buyer.post(f"/quotes/{number}/language", data=switch(paid, number), follow_redirects=True)
            assert lang(switched) == "en" and "Paid on" in switched.text and 'id="reference"' in switched.text
