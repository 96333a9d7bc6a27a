"""R16, R17 and draft expiry on the time-skipping server, with a counting fake payment provider:
nobody is charged for a renewal that does not happen, and nobody is charged twice."""

import asyncio
from datetime import timedelta

import pytest
from temporalio.testing import WorkflowEnvironment

from contracts.subscription import TermInput
from domain.calendar import TermCalendar
from domain.errors import PaymentDeclined, Refused
from domain.quotes import Origin, QuoteState, subscription_workflow_id
from payments.gateway import Card
from tests.helpers import (
    calendar,
    charges,
    money,
    paid_once,
    quote_result,
    quote_stack,
    request,
    rows,
    scalar,
    settled,
    skip,
    skip_to,
    start_calendars,
    subscription_row,
)
from workflows.subscription import SubscriptionWorkflow

pytestmark = pytest.mark.asyncio(loop_scope="session")
DAY = timedelta(days=1)
GOOD = Card(holder="A. Buyer", number="4242 4242 4242 4242", expiry="12/29", cvc="123")
DECLINED = Card(holder="A. Buyer", number="4000 0000 0000 0002", expiry="12/29", cvc="123")


async def test_r16_two_quotes_one_term_second_refused_superseded_never_charged(
    env: WorkflowEnvironment, pool, settings, mailbox, gateway
) -> None:
    async with quote_stack(env, pool, settings, gateway=gateway) as quotes:
        before = await subscription_row(pool, "SUB-1001")
        first = await quotes.create(request("SUB-1001"), send=True)
        second = await quotes.create(request("SUB-1001", seats={"SUB-1001": 2}), send=True)
        await quotes.accept(first.number, pay=True, payment_method=await gateway.tokenize(GOOD))
        await quote_result(env.client, first.number)
        with pytest.raises(Refused) as refused:
            await quotes.accept(second.number, pay=True, payment_method=await gateway.tokenize(GOOD))
        ended = await quote_result(env.client, second.number)
        shown = await quotes.show(second.number)
    assert refused.value.rule == "R16"
    today = (await env.get_current_time()).date().isoformat()
    assert refused.value.message == (
        f"SUB-1001 was renewed by {first.number} on {today}; this quote can no longer be paid"
    )
    assert ended.state is QuoteState.CANCELLED and ended.renewed == {}
    assert (shown.cancelled_by, shown.cancel_reason) == ("system", f"superseded by {first.number}")
    assert (await charges(pool, first.number), await charges(pool, second.number)) == (1, 0)
    assert gateway.charge_calls[f"quote-{second.number}"] == 0
    assert await scalar(pool, "SELECT count(*) FROM payments WHERE quote_number = %s", second.number) == 0
    after = await subscription_row(pool, "SUB-1001")
    assert (after["end_date"], after["seats"], after["held_by"]) == (
        before["end_date"].replace(year=before["end_date"].year + 1),
        5,
        [],
    )
    assert await scalar(pool, "SELECT count(*) FROM renewals") == 1
    told = [m for m in mailbox.messages() if m["Subject"] == f"No longer valid: quote {second.number}"]
    assert sorted(m["To"] for m in told) == ["buyer@acme.example"]
    assert f"superseded by {first.number}" in told[0].get_body(("plain",)).get_content()


async def test_r16_term_reserved_by_a_payment_in_progress_refuses_and_charges_nothing(
    env: WorkflowEnvironment, pool, settings, gateway
) -> None:
    """A card payment while another payment holds the term: refused before the card is touched; once the
    other lets go, the same card pays the total, once."""
    async with quote_stack(env, pool, settings, gateway=gateway) as quotes:
        quote = await quotes.create(request("SUB-1001"), send=True)
        end = (await subscription_row(pool, "SUB-1001"))["end_date"]
        handle = env.client.get_workflow_handle(subscription_workflow_id("SUB-1001"))
        held = await handle.execute_update(SubscriptionWorkflow.reserve, TermInput(holder="Q-999999", term_end=end))
        assert held.granted
        card = await gateway.tokenize(GOOD)
        with pytest.raises(Refused) as refused:
            await quotes.accept(quote.number, pay=True, payment_method=card)
        assert refused.value.rule == "R16" and "being renewed by Q-999999" in refused.value.message
        assert "try again" in refused.value.message
        assert (await quotes.show(quote.number)).state is QuoteState.ACCEPTED
        assert sum(gateway.charge_calls.values()) == 0
        assert await money(pool, quote.number) == {"charges": [], "payments": []}
        await handle.execute_update(SubscriptionWorkflow.release, TermInput(holder="Q-999999", term_end=end))
        paid = await quotes.pay(quote.number, payment_method=card)
        assert paid.state is QuoteState.PAID
        await quote_result(env.client, quote.number)
    # 5 × 2,030.00 − RENEW10 1,015.00
    await paid_once(pool, paid, "9135.00", "EUR")
    assert gateway.charge_calls == {f"quote-{quote.number}": 1}


async def test_r17_accepted_quote_wins_against_auto_renew_at_the_end_date(
    env: WorkflowEnvironment, pool, settings, gateway
) -> None:
    async with quote_stack(env, pool, settings, gateway=gateway) as quotes:
        end = (await subscription_row(pool, "SUB-1001"))["end_date"]
        await start_calendars(env, pool, settings, "SUB-1001")
        quote = await quotes.create(request("SUB-1001"), send=True)
        await quotes.accept(quote.number)
        assert (await subscription_row(pool, "SUB-1001"))["held_by"] == [quote.number]
        await settled(env.client, quote.number)
        await skip_to(env, TermCalendar.of(end).renewal_due + DAY, "SUB-1001")
        assert await scalar(pool, "SELECT count(*) FROM renewals") == 0
        await quotes.pay(quote.number, payment_method=await gateway.tokenize(GOOD))
        await quote_result(env.client, quote.number)
        await skip_to(env, TermCalendar.of(end).renewal_due + 20 * DAY, "SUB-1001")
    renewals = await rows(pool, "SELECT * FROM renewals")
    assert [(r["source"], r["quote_number"], r["from_end_date"]) for r in renewals] == [("quote", quote.number, end)]
    assert await charges(pool, quote.number) == 1
    row = await subscription_row(pool, "SUB-1001")
    assert (row["end_date"], row["auto_renew"], row["held_by"]) == (end.replace(year=end.year + 1), True, [])


async def test_r17_sent_unchanged_quote_loses_to_auto_renew_and_is_superseded(
    env: WorkflowEnvironment, pool, settings, mailbox, gateway
) -> None:
    async with quote_stack(env, pool, settings, gateway=gateway) as quotes:
        end = (await subscription_row(pool, "SUB-1001"))["end_date"]
        await start_calendars(env, pool, settings, "SUB-1001")
        quote = await quotes.create(request("SUB-1001"), send=True)
        assert (await subscription_row(pool, "SUB-1001"))["held_by"] == []
        await settled(env.client, quote.number)
        await skip_to(env, TermCalendar.of(end).renewal_due + DAY, "SUB-1001")
        ended = await quote_result(env.client, quote.number)
        with pytest.raises(Refused) as refused:
            await quotes.accept(quote.number, pay=True, payment_method=await gateway.tokenize(GOOD))
        shown = await quotes.show(quote.number)
    assert ended.state is QuoteState.CANCELLED
    assert (shown.cancelled_by, shown.cancel_reason) == ("system", "superseded by auto-renew")
    assert refused.value.rule == "R16" and refused.value.message.startswith("SUB-1001 was renewed by auto-renew on ")
    assert await charges(pool, quote.number) == 0 and gateway.charge_calls[f"quote-{quote.number}"] == 0
    assert [r["source"] for r in await rows(pool, "SELECT source FROM renewals")] == ["auto-renew"]
    assert any(m["Subject"] == f"No longer valid: quote {quote.number}" for m in mailbox.messages())


async def test_r16_declined_card_leaves_quote_accepted_then_a_good_card_pays_once(
    env: WorkflowEnvironment, pool, settings, gateway
) -> None:
    async with quote_stack(env, pool, settings, gateway=gateway) as quotes:
        quote = await quotes.create(request("SUB-1001"), send=True)
        with pytest.raises(PaymentDeclined) as declined:
            await quotes.accept(quote.number, pay=True, payment_method=await gateway.tokenize(DECLINED))
        assert declined.value.message == "your card was declined; nothing was charged"
        assert (await quotes.show(quote.number)).state is QuoteState.ACCEPTED
        state = await calendar(env.client, "SUB-1001")
        assert (state.reserved_by, state.held_by) == (None, [quote.number])
        assert await charges(pool, quote.number) == 0
        assert await scalar(pool, "SELECT count(*) FROM payments") == 0
        paid = await quotes.pay(quote.number, payment_method=await gateway.tokenize(GOOD))
        assert paid.state is QuoteState.PAID and paid.payment_reference.startswith("ch_fake_")
        await quote_result(env.client, quote.number)
    assert await charges(pool, quote.number) == 1
    assert gateway.charge_calls[f"quote-{quote.number}"] == 2
    assert await scalar(pool, "SELECT count(*) FROM renewals") == 1


async def test_r16_pay_twice_at_once_charges_once(env: WorkflowEnvironment, pool, settings, gateway) -> None:
    async with quote_stack(env, pool, settings, gateway=gateway) as quotes:
        quote = await quotes.create(request("SUB-1001"), send=True)
        tokens = [await gateway.tokenize(GOOD), await gateway.tokenize(GOOD)]
        outcomes = await asyncio.gather(
            *(quotes.accept(quote.number, pay=True, payment_method=t) for t in tokens), return_exceptions=True
        )
        await quote_result(env.client, quote.number)
    paid = [o for o in outcomes if not isinstance(o, Exception)]
    assert len(paid) == 1 and paid[0].state is QuoteState.PAID
    # The other is refused: while the first is going on (R20), or as paid once it is (lifecycle).
    assert [o.rule for o in outcomes if isinstance(o, Refused)] in (["R20"], ["lifecycle"])
    assert await charges(pool, quote.number) == 1 and gateway.charge_calls[f"quote-{quote.number}"] == 1
    assert await scalar(pool, "SELECT count(*) FROM renewals") == 1


async def test_lifecycle_abandoned_draft_expires_and_auto_renew_runs(env: WorkflowEnvironment, pool, settings) -> None:
    async with quote_stack(env, pool, settings) as quotes:
        end = (await subscription_row(pool, "SUB-1001"))["end_date"]
        await start_calendars(env, pool, settings, "SUB-1001")
        draft = await quotes.create(request("SUB-1001", seats={"SUB-1001": 3}))
        assert timedelta(days=29) < draft.expires_at - await env.get_current_time() <= timedelta(days=30)
        assert (await subscription_row(pool, "SUB-1001"))["held_by"] == [draft.number]
        await settled(env.client, draft.number)
        await skip_to(env, TermCalendar.of(end).renewal_due + DAY, "SUB-1001")
        assert await scalar(pool, "SELECT count(*) FROM renewals") == 0
        await skip(env, draft.number, draft.expires_at - await env.get_current_time() + DAY)
        assert (await quote_result(env.client, draft.number)).state is QuoteState.EXPIRED
        await skip_to(env, draft.expires_at + 2 * DAY, "SUB-1001")
    renewals = await rows(pool, "SELECT * FROM renewals")
    assert [(r["source"], r["seats"], r["from_end_date"]) for r in renewals] == [("auto-renew", 5, end)]
    row = await subscription_row(pool, "SUB-1001")
    assert (row["held_by"], row["auto_renew"], row["end_date"]) == ([], True, end.replace(year=end.year + 1))


async def test_lifecycle_draft_expiry_capped_at_window_close(env: WorkflowEnvironment, pool, settings) -> None:
    async with quote_stack(env, pool, settings) as quotes:
        draft = await quotes.create(request("SUB-1007", origin=Origin.SALES))
        inventor = await subscription_row(pool, "SUB-1007")
        closes = TermCalendar.of(inventor["end_date"]).window_closes
        assert draft.state is QuoteState.DRAFT and draft.expires_at == closes
        await skip(env, draft.number, closes - await env.get_current_time())
        assert (await quote_result(env.client, draft.number)).state is QuoteState.EXPIRED
        with pytest.raises(Refused):
            await quotes.send(draft.number)


async def test_r17_accepted_quote_that_expires_lets_the_kept_back_auto_renewal_run(
    env: WorkflowEnvironment, pool, settings, gateway
) -> None:
    async with quote_stack(env, pool, settings, gateway=gateway) as quotes:
        end = (await subscription_row(pool, "SUB-1001"))["end_date"]
        await start_calendars(env, pool, settings, "SUB-1001")
        quote = await quotes.create(request("SUB-1001"), send=True)
        await quotes.accept(quote.number)
        await settled(env.client, quote.number)
        await skip_to(env, TermCalendar.of(end).renewal_due + DAY, "SUB-1001")
        assert await scalar(pool, "SELECT count(*) FROM renewals") == 0
        await skip_to(env, quote.expires_at + DAY, "SUB-1001")
        assert (await quote_result(env.client, quote.number)).state is QuoteState.EXPIRED
        await skip_to(env, quote.expires_at + 2 * DAY, "SUB-1001")
    renewals = await rows(pool, "SELECT * FROM renewals")
    assert [(r["source"], r["from_end_date"]) for r in renewals] == [("auto-renew", end)]
    assert await charges(pool, quote.number) == 0
