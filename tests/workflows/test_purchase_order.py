"""R27 purchase orders on the time-skipping server with the real worker, PostgreSQL, SMTP and a webhook
receiver: the number given on the pay page is on the receipt, the PDF, the paid email, the API, the webhook
and `quote show`; one given through the API accept too; a bad one is refused naming R27, and nothing changes."""

import io
import re

import httpx
import pytest
from pypdf import PdfReader
from temporalio.testing import WorkflowEnvironment

from domain.links import LinkSigner
from domain.quotes import QuoteState
from starters.output import quote_text
from tests.helpers import BASE, CARD, form_fields, quote_result, quote_stack, request, scalar, settled
from tests.workflows.test_api import AUTH, Api, body
from tests.workflows.test_receipt import emailed_links
from tests.workflows.test_webhooks import receiving
from web.app import create_app

pytestmark = pytest.mark.asyncio(loop_scope="session")

PO = "PO-2026/4711 ACME"


def pdf_text(content: bytes) -> str:
    return " ".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


async def test_r27_purchase_order_on_the_pay_page_reaches_receipt_pdf_paid_email_api_and_webhook(
    env: WorkflowEnvironment, pool, settings, mailbox, gateway, tmp_path
) -> None:
    async with receiving(tmp_path, settings) as (receiver, hooked):
        async with quote_stack(env, pool, hooked, gateway=gateway) as quotes:
            app = create_app(lambda: quotes, LinkSigner(hooked.require_link_secrets()), lambda: gateway)
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as web:
                quote = await quotes.create(request("SUB-1001"), send=True)
                await settled(env.client, quote.number)
                link, _ = emailed_links(mailbox, quote.number, "buyer@acme.example")
                token = link.split("token=")[1]
                form = await web.get(f"/quotes/{quote.number}/pay", params={"token": token})
                assert 'name="purchase_order"' in form.text and "optional" in form.text
                fields = form_fields(form.text, f"/quotes/{quote.number}/pay")
                paid = await web.post(
                    f"/quotes/{quote.number}/pay", data=fields | CARD | {"purchase_order": f"  {PO} "}
                )
                assert paid.status_code == 200, paid.text
                assert re.search(r'<dd id="purchase-order">\s*' + re.escape(PO), paid.text)
                await quote_result(env.client, quote.number)
                pdf = await web.get(f"/quotes/{quote.number}.pdf", params={"token": token})
                shown = await quotes.show(quote.number)
            events = await receiver.wait_for(3, quote.number)
    assert shown.state is QuoteState.PAID and shown.purchase_order == PO
    assert PO in pdf_text(pdf.content)
    assert f"PO number   {PO} (R27)" in quote_text(shown)
    paid_mail = next(m for m in mailbox.messages() if m["Subject"].startswith(f"Paid: quote {quote.number}"))
    assert f"Your purchase order: {PO}" in paid_mail.get_body(("plain",)).get_content()
    assert {e.type: e.data.get("purchase_order") for e in events} == {
        "quote.sent": None,
        "quote.accepted": PO,
        "quote.paid": PO,
    }


async def test_r27_api_accept_takes_a_purchase_order_and_refuses_a_36th_character(
    env: WorkflowEnvironment, pool, settings, gateway
) -> None:
    async with Api(env, pool, settings, gateway) as api:
        number = (await api.post("/api/v1/quotes", json=body(send=True), headers=AUTH)).json()["number"]
        events = "SELECT count(*) FROM quote_events WHERE quote_number = %s"
        before = await scalar(pool, events, number)
        too_long = await api.post(f"/api/v1/quotes/{number}/accept", json={"purchase_order": "P" * 36}, headers=AUTH)
        tab = await api.post(f"/api/v1/quotes/{number}/accept", json={"purchase_order": "PO\t1"}, headers=AUTH)
        unchanged = (await api.get(f"/api/v1/quotes/{number}", headers=AUTH)).json()
        assert await scalar(pool, events, number) == before
        accepted = await api.post(
            f"/api/v1/quotes/{number}/accept", json={"purchase_order": "4500012345"}, headers=AUTH
        )
        read = (await api.get(f"/api/v1/quotes/{number}", headers=AUTH)).json()
    assert too_long.status_code == 409 and too_long.json()["error"]["rule"] == "R27"
    assert "at most 35 characters; 36 given" in too_long.json()["error"]["message"]
    assert tab.status_code == 409 and tab.json()["error"]["rule"] == "R27"
    assert unchanged["state"] == "sent" and "purchase_order" not in unchanged
    assert accepted.status_code == 200 and accepted.json()["purchase_order"] == "4500012345"
    assert (read["state"], read["purchase_order"]) == ("accepted", "4500012345")


async def test_r27_a_wrong_purchase_order_on_the_pay_page_is_shown_at_its_field_and_nothing_is_charged(
    env: WorkflowEnvironment, pool, settings, mailbox, gateway
) -> None:
    async with quote_stack(env, pool, settings, gateway=gateway) as quotes:
        app = create_app(lambda: quotes, LinkSigner(settings.require_link_secrets()), lambda: gateway)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as web:
            quote = await quotes.create(request("SUB-1001"), send=True)
            await settled(env.client, quote.number)
            link, _ = emailed_links(mailbox, quote.number, "buyer@acme.example")
            token = link.split("token=")[1]
            form = await web.get(f"/quotes/{quote.number}/pay", params={"token": token})
            fields = form_fields(form.text, f"/quotes/{quote.number}/pay")
            refused = await web.post(f"/quotes/{quote.number}/pay", data=fields | CARD | {"purchase_order": "9" * 40})
            shown = await quotes.read(quote.number)
    assert refused.status_code == 422
    assert 'id="purchase_order-error"' in refused.text and "at most 35 characters" in refused.text
    assert shown.state is QuoteState.SENT and shown.purchase_order is None
    assert sum(gateway.charge_calls.values()) == 0
