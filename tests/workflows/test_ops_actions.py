"""Sales and ops actions on a quote, on the time-skipping server with the real worker, PostgreSQL and SMTP:
extend a sent quote's expiry (never past the window close, R15), send its email again to all or some of its
recipients (R04: only to its recipients), and clone an ended quote into a new draft. Each is an update the
Temporal UI shows (or, for a clone, a new quote that names its original); a refused one changes nothing."""

from datetime import timedelta

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment

from domain.errors import Refused
from domain.quotes import QuoteState, quote_workflow_id
from tests.helpers import quote_stack, request, scalar, settled, skip
from tests.workflows.test_api import AUTH, Api, body

pytestmark = pytest.mark.asyncio(loop_scope="session")

CFO = "cfo@acme.example"


async def updates(env: WorkflowEnvironment, number: str) -> list[str]:
    """The names of the updates the quote's history shows (what the Temporal UI lists)."""
    handle = env.client.get_workflow_handle(quote_workflow_id(number))
    return [
        event.workflow_execution_update_accepted_event_attributes.accepted_request.input.name
        async for event in handle.fetch_history_events()
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
    ]


def quote_mails(mailbox, number: str, to: str) -> int:
    return len([m for m in mailbox.messages() if m["To"] == to and m["Subject"].startswith(f"Renewal quote {number}")])


async def test_r15_extend_moves_the_expiry_up_to_the_window_close_and_the_quote_outlives_its_old_date(
    env: WorkflowEnvironment, pool, settings, mailbox, gateway
) -> None:
    async with quote_stack(env, pool, settings, gateway=gateway) as quotes:
        # SUB-1001 ends in 20 days, its window closes in 65; the quote holds its auto-renew (R02).
        quote = await quotes.create(request("SUB-1001", pause_auto_renew=True), send=True)
        today = (await env.get_current_time()).date()
        assert quote.expires_at is not None
        with pytest.raises(Refused) as too_late:
            await quotes.extend(quote.number, today + timedelta(days=66))
        with pytest.raises(Refused) as earlier:
            await quotes.extend(quote.number, quote.expires_at.date() - timedelta(days=2))
        extended = await quotes.extend(quote.number, today + timedelta(days=65))
        await settled(env.client, quote.number)
        await skip(env, quote.number, timedelta(days=40))
        later = await quotes.show(quote.number)
        names = await updates(env, quote.number)
        events = await scalar(
            pool, "SELECT count(*) FROM quote_events WHERE quote_number = %s AND event = 'extended'", quote.number
        )
    assert (
        too_late.value.rule == "R15" and f"until {today + timedelta(days=65)} at the latest" in too_late.value.message
    )
    assert earlier.value.rule == "R15" and "moves the expiry later" in earlier.value.message
    assert extended.expires_at is not None and extended.expires_at.date() == today + timedelta(days=66)
    assert later.state is QuoteState.SENT and "extend" in names and events == 1


async def test_resend_sends_the_quote_again_to_all_or_to_the_recipients_named_never_to_a_stranger(
    env: WorkflowEnvironment, pool, settings, mailbox, gateway
) -> None:
    async with Api(env, pool, settings, gateway) as api:
        number = (await api.post("/api/v1/quotes", json=body(recipients=[CFO], send=True), headers=AUTH)).json()[
            "number"
        ]
        await settled(env.client, number)
        stranger = await api.post(f"/api/v1/quotes/{number}/resend", json={"to": ["x@other.example"]}, headers=AUTH)
        everyone = await api.post(f"/api/v1/quotes/{number}/resend", headers=AUTH)
        await settled(env.client, number)
        cfo_only = await api.post(f"/api/v1/quotes/{number}/resend", json={"to": ["CFO@acme.example"]}, headers=AUTH)
        await settled(env.client, number)
        names = await updates(env, number)
    assert stranger.status_code == 409 and stranger.json()["error"]["rule"] == "R04"
    assert everyone.status_code == 200 and cfo_only.status_code == 200
    assert (quote_mails(mailbox, number, "buyer@acme.example"), quote_mails(mailbox, number, CFO)) == (2, 3)
    assert names.count("resend") == 2  # the refused one never entered the history


async def test_api_clone_with_an_idempotency_key_makes_one_draft_by_the_origin_given(
    env: WorkflowEnvironment, pool, settings, gateway
) -> None:
    async with Api(env, pool, settings, gateway) as api:
        number = (await api.post("/api/v1/quotes", json=body(send=True), headers=AUTH)).json()["number"]
        await api.post(f"/api/v1/quotes/{number}/cancel", json={"as": "sales"}, headers=AUTH)
        keyed = AUTH | {"Idempotency-Key": "clone-1"}
        first = await api.post(f"/api/v1/quotes/{number}/clone", json={"origin": "sales"}, headers=keyed)
        again = await api.post(f"/api/v1/quotes/{number}/clone", json={"origin": "sales"}, headers=keyed)
        drafts = await scalar(pool, "SELECT count(*) FROM quotes WHERE document->>'cloned_from' = %s", number)
    assert first.status_code == again.status_code == 201
    assert first.json()["number"] == again.json()["number"] and drafts == 1
    assert (first.json()["origin"], first.json()["state"], first.json()["cloned_from"]) == ("sales", "draft", number)


async def test_clone_makes_a_draft_from_an_ended_quote_and_refuses_a_pending_one(
    env: WorkflowEnvironment, pool, settings, mailbox, gateway
) -> None:
    async with quote_stack(env, pool, settings, gateway=gateway) as quotes:
        quote = await quotes.create(request("SUB-1001", "SUB-1002", recipients=[CFO], seats={"SUB-1002": 2}), send=True)
        with pytest.raises(Refused) as pending:
            await quotes.clone(quote.number)
        await quotes.cancel(quote.number, "sales")
        await settled(env.client, quote.number)
        clone = await quotes.clone(quote.number)
        await settled(env.client, clone.number)
    assert pending.value.rule == "lifecycle" and "only an ended quote is cloned" in pending.value.message
    assert clone.state is QuoteState.DRAFT and clone.cloned_from == quote.number and clone.number != quote.number
    assert [(line.subscription_id, line.seats) for line in clone.lines] == [
        (line.subscription_id, line.seats) for line in quote.lines
    ]
    assert clone.recipients == [CFO] and clone.total == quote.total
    assert f"clone of {quote.number}" in clone.details()
