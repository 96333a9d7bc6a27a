"""R26 the buyer's answer, on the time-skipping server with the real worker, PostgreSQL, SMTP and a webhook
receiver: asked from the quote page (a partner's quote: the partner is emailed, in its language) and through
the API (a sales quote: sales is emailed); recorded on the quote, in `quote show`, the API, the Temporal UI's
details and a webhook; the quote's state never changes, and a refused answer changes nothing."""

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from domain.links import LinkSigner
from domain.quotes import Origin, QuoteState, quote_workflow_id
from starters.output import quote_text
from tests.helpers import BASE, form_fields, quote_stack, request, scalar, settled
from tests.workflows.test_api import AUTH, Api, body
from tests.workflows.test_receipt import emailed_links
from tests.workflows.test_webhooks import receiving
from web.app import create_app

pytestmark = pytest.mark.asyncio(loop_scope="session")

PARTNER = "quotes@cadpartners.example"  # workers/demo_data.py: CADpartners, which reads Dutch


def mail_to(mailbox, address: str) -> list:
    return [m for m in mailbox.messages() if m["To"] == address]


async def ui_details(env: WorkflowEnvironment, number: str) -> str:
    """What the Temporal UI shows as the quote's current details."""
    metadata = await env.client.get_workflow_handle(quote_workflow_id(number)).query("__temporal_workflow_metadata")
    return metadata.current_details


async def test_r26_a_buyer_asks_for_changes_on_the_quote_page_and_the_partner_hears_by_email_and_webhook(
    env: WorkflowEnvironment, pool, settings, mailbox, gateway, tmp_path
) -> None:
    async with receiving(tmp_path, settings) as (receiver, hooked):
        async with quote_stack(env, pool, hooked, gateway=gateway) as quotes:
            app = create_app(lambda: quotes, LinkSigner(hooked.require_link_secrets()), lambda: gateway)
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as web:
                quote = await quotes.create(request("SUB-1008", origin=Origin.PARTNER), send=True)
                await settled(env.client, quote.number)
                link, _ = emailed_links(mailbox, quote.number, "buyer@acme.example")
                page = await web.get(link)
                assert 'id="answer"' in page.text and 'name="message"' in page.text
                fields = form_fields(page.text, f"/quotes/{quote.number}/answer")
                empty = await web.post(
                    f"/quotes/{quote.number}/answer", data=fields | {"kind": "changes_requested", "message": " "}
                )
                no_reason = await web.post(
                    f"/quotes/{quote.number}/answer", data=fields | {"kind": "declined", "message": "No."}
                )
                asked = await web.post(
                    f"/quotes/{quote.number}/answer",
                    data=fields | {"kind": "changes_requested", "message": "Please make it 5 seats.\nThanks, Ann"},
                    follow_redirects=True,
                )
                events = await receiver.wait_for(2, quote.number)
                details = await ui_details(env, quote.number)
                shown = await quotes.show(quote.number)
                await settled(env.client, quote.number)
    assert (empty.status_code, no_reason.status_code) == (422, 422)
    assert "the message is empty" in empty.text and "Choose why you decline" in no_reason.text
    assert asked.status_code == 200 and "Your request for changes is sent" in asked.text
    assert "Please make it 5 seats." in asked.text and 'id="answer-1"' in asked.text
    assert shown.state is QuoteState.SENT and [a.message for a in shown.answers] == [
        "Please make it 5 seats.\nThanks, Ann"
    ]
    assert shown.answers[0].by == "buyer@acme.example"
    assert "buyer@acme.example asks for changes (R26): Please make it 5 seats." in quote_text(shown)
    assert "buyer asks for changes" in details and "Please" not in details  # never the buyer's text (Markdown)
    assert [e.type for e in events] == ["quote.sent", "quote.changes_requested"]
    assert events[1].data["answers"][0]["message"].startswith("Please make it 5 seats.")
    (told,) = mail_to(mailbox, PARTNER)
    text = told.get_body(("plain",)).get_content()
    assert told["Subject"] == f"Offerte {quote.number}: Acme BV vraagt om wijzigingen"
    assert "Please make it 5 seats." in text and f"renewals quote revise {quote.number}" in text


async def test_r26_api_decline_of_a_sales_quote_reaches_sales_once_and_refusals_change_nothing(
    env: WorkflowEnvironment, pool, settings, mailbox, gateway
) -> None:
    sales = settings.model_copy(update={"sales_email": "sales@vendor.example"})
    async with Api(env, pool, sales, gateway) as api:
        draft = (await api.post("/api/v1/quotes", json=body(origin="sales"), headers=AUTH)).json()["number"]
        number = (await api.post("/api/v1/quotes", json=body(origin="sales", send=True), headers=AUTH)).json()["number"]
        answer = f"/api/v1/quotes/{number}/answer"
        events = "SELECT count(*) FROM quote_events WHERE quote_number = %s"
        before = await scalar(pool, events, number)
        refused = [
            await api.post(
                f"/api/v1/quotes/{draft}/answer",
                json={"kind": "declined", "reason": "price", "message": "x"},
                headers=AUTH,
            ),
            await api.post(answer, json={"kind": "declined", "message": "too much"}, headers=AUTH),
            await api.post(answer, json={"kind": "changes_requested", "message": ""}, headers=AUTH),
        ]
        bad_reason = await api.post(
            answer, json={"kind": "declined", "reason": "cheaper", "message": "x"}, headers=AUTH
        )
        assert await scalar(pool, events, number) == before
        declined = await api.post(
            answer,
            json={"kind": "declined", "reason": "other-supplier", "message": "We move to another CAD"},
            headers=AUTH,
        )
        read = (await api.get(f"/api/v1/quotes/{number}", headers=AUTH)).json()
        await settled(env.client, number)
    assert [(r.status_code, r.json()["error"]["rule"]) for r in refused] == [(409, "R26")] * 3
    assert bad_reason.status_code == 422 and bad_reason.json()["error"]["field"] == "reason"
    assert declined.status_code == 200 and declined.json()["state"] == "sent"
    assert read["answers"] == [
        {
            "kind": "declined",
            "reason": "other-supplier",
            "message": "We move to another CAD",
            "by": "api:test",
            "at": read["answers"][0]["at"],
        }
    ]
    (told,) = mail_to(mailbox, "sales@vendor.example")
    assert told["Subject"] == f"Quote {number}: Acme BV declines it"
    assert "Reason: Buying elsewhere" in told.get_body(("plain",)).get_content()
