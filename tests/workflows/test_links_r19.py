"""R19: a link opens one quote for one recipient; a contact's quotes page lists only what they were sent;
secrets rotate without breaking links already mailed; a quote's links die when it ends."""

import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from itsdangerous import URLSafeSerializer
from temporalio.testing import WorkflowEnvironment

from domain.links import LinkRefused, LinkSigner, key_id
from tests.helpers import BASE, CARD, form_fields, quote_result, quote_stack, request, settled
from web.app import create_app

session = pytest.mark.asyncio(loop_scope="session")
SOON = datetime.now(UTC) + timedelta(days=1)


def links_in(mailbox, number: str, recipient: str) -> list[str]:
    bodies = [
        m.get_body(("plain",)).get_content()
        for m in mailbox.messages()
        if number in m["Subject"] and m["To"] == recipient
    ]
    return [path for body in bodies for path in re.findall(r"http://localhost:8000(/\S+)", body)]


def test_r19_rotated_secrets_keep_old_links_and_sign_with_the_newest() -> None:
    old = LinkSigner("old-secret")
    mailed = old.quote_token("Q-000001", "buyer@acme.example", SOON)
    rotated = LinkSigner(["new-secret", "old-secret"])
    assert rotated.verify_quote(mailed, "Q-000001", datetime.now(UTC)) == "buyer@acme.example"
    rotated.check_csrf(mailed, old.csrf(mailed))
    fresh = rotated.quote_token("Q-000001", "buyer@acme.example", SOON)
    assert LinkSigner("new-secret").verify_quote(fresh, "Q-000001", datetime.now(UTC))
    assert URLSafeSerializer("").loads_unsafe(fresh)[1]["k"] == key_id("new-secret")
    with pytest.raises(LinkRefused):
        LinkSigner("new-secret").verify_quote(mailed, "Q-000001", datetime.now(UTC))


@session
async def test_r19_contact_link_never_lists_or_opens_another_quote(
    env: WorkflowEnvironment, pool, settings, mailbox, gateway
) -> None:
    signer = LinkSigner(settings.require_link_secrets())
    app = create_app(lambda: quotes, signer, lambda: gateway)
    async with (
        quote_stack(env, pool, settings, gateway=gateway) as quotes,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as web,
    ):
        shared = await quotes.create(request("SUB-1001", recipients=["CFO@acme.example"]), send=True)
        private = await quotes.create(request("SUB-1003", recipients=["it@acme.example"]), send=True)
        await settled(env.client, shared.number)
        await settled(env.client, private.number)
        cfo_quote, cfo_page = links_in(mailbox, shared.number, "CFO@acme.example")
        listed = (await web.get(cfo_page)).text
        assert shared.number in listed and private.number not in listed
        assert (await web.get(cfo_quote)).status_code == 200
        # A token for the CFO on a quote the CFO was not sent opens nothing, even correctly signed.
        foreign = signer.quote_token(private.number, "cfo@acme.example", SOON)
        opened = await web.get(f"/quotes/{private.number}", params={"token": foreign})
        assert opened.status_code == 403 and private.number not in opened.text.split("<h1>")[-1]
        assert (
            await web.post(f"/quotes/{private.number}/accept", data={"token": foreign, "csrf": signer.csrf(foreign)})
        ).status_code == 403
        _, buyer_page = links_in(mailbox, shared.number, "buyer@acme.example")
        everything = (await web.get(buyer_page)).text
        assert shared.number in everything and private.number in everything


@session
async def test_r19_a_quotes_links_die_when_it_ends(env: WorkflowEnvironment, pool, settings, mailbox, gateway) -> None:
    app = create_app(lambda: quotes, LinkSigner(settings.require_link_secrets()), lambda: gateway)
    async with (
        quote_stack(env, pool, settings, gateway=gateway) as quotes,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as web,
    ):
        quote = await quotes.create(request("SUB-1001"), send=True)
        await settled(env.client, quote.number)
        link, _ = links_in(mailbox, quote.number, "buyer@acme.example")
        pay_page = await web.get(link.replace(f"/quotes/{quote.number}?", f"/quotes/{quote.number}/pay?"))
        paid = await web.post(
            f"/quotes/{quote.number}/pay", data=form_fields(pay_page.text, f"/quotes/{quote.number}/pay") | CARD
        )
        assert paid.status_code == 200 and "the quote is paid" in paid.text
        await quote_result(env.client, quote.number)
        dead = await web.get(link)
        assert dead.status_code == 410 and "This link no longer opens the quote" in dead.text
        assert "EUR" not in dead.text and "Accept" not in dead.text
    confirmation = next(m for m in mailbox.messages() if m["Subject"].startswith(f"Paid: quote {quote.number}"))
    assert f"/quotes/{quote.number}?token=" not in confirmation.get_body(("plain",)).get_content()
