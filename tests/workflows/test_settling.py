"""Issue 31 on the time-skipping server: paths where 518b699 lost money, a term or a hold, each now settled
(R16, R20, R21, R23). Every test ends with the audit clean."""

from datetime import timedelta
from decimal import Decimal

import pytest
from pydantic import SecretStr
from temporalio import activity
from temporalio.testing import WorkflowEnvironment

from contracts import quote as quote_contract
from contracts.failures import Failure, failure
from contracts.quote import SendInput
from domain.errors import Refused, Stopped
from domain.models import QuoteKind
from domain.quote_rules import NewLine, QuoteRequest
from domain.quotes import Origin, QuoteState
from domain.revisions import Revision
from payments.gateway import Card, Charge, ChargeRequest, OutcomeUnknown
from tests.helpers import (
    CountingGateway,
    audit,
    calendar,
    money,
    quote_result,
    quote_stack,
    request,
    rows,
    skip,
    subscription_row,
    worker_with,
)
from workers.demo_data import ACME, DE_VRIES

pytestmark = pytest.mark.asyncio(loop_scope="session")
GOOD = Card(holder="A. Buyer", number="4242 4242 4242 4242", expiry="12/29", cvc="123")


async def test_r21_a_load_the_calendar_has_not_heard_of_refuses_the_former_owners_payment(
    env: WorkflowEnvironment, pool, settings, gateway
) -> None:
    """`renewals load` writes the store first and tells the calendars after: if telling fails, the store
    already says who owns the subscription. On 518b699 the calendar alone decided, and the old owner paid."""
    async with quote_stack(env, pool, settings, gateway=gateway) as quotes:
        quote = await quotes.create(request("SUB-1001"), send=True)
        async with pool.connection() as conn:  # the load's write; its telling of the calendar failed
            await conn.execute("UPDATE subscriptions SET csn = %s WHERE id = 'SUB-1001'", (DE_VRIES,))
        with pytest.raises(Refused) as refused:
            await quotes.accept(quote.number, pay=True, payment_method=await gateway.tokenize(GOOD))
        assert (await calendar(env.client, "SUB-1001")).reserved_by is None
        await audit(env, pool, gateway)
    assert refused.value.rule == "R21"
    assert refused.value.message.startswith(f"SUB-1001 now belongs to customer {DE_VRIES} (direct)")
    assert gateway.charge_calls[f"quote-{quote.number}"] == 0
    assert await rows(pool, "SELECT * FROM renewals") == []


async def test_r23_a_revision_is_never_sent_over_an_original_its_buyer_accepted(
    env: WorkflowEnvironment, pool, settings, gateway
) -> None:
    """A new purchase has no term to reserve: on 518b699 a revision sent while the buyer accepted the original
    (the service's check and the buyer racing) left both payable, and the purchase could be paid twice. The
    revision now asks the original to step aside, in the original's own workflow, before it is sent."""
    new = QuoteRequest(
        csn=ACME,
        kind=QuoteKind.NEW,
        currency="EUR",
        origin=Origin.SALES,
        new_lines=[NewLine(product="Maya", seats=2, term="annual")],
    )
    async with quote_stack(env, pool, settings, gateway=gateway) as quotes:
        original = await quotes.create(new, send=True)
        revision = await quotes.revise(
            original.number, Revision(new_lines=[NewLine(product="Maya", seats=1, term="annual")])
        )
        await quotes.accept(original.number)
        handle = env.client.get_workflow_handle(quote_contract.workflow_id(revision.number))
        with pytest.raises(Exception) as refused:  # the update itself, as the race would reach it
            await handle.execute_update(quote_contract.SEND, SendInput())
        assert "R23" in str(refused.value.cause.details) and "is accepted now" in str(refused.value.cause)
        assert (await quotes.show(revision.number)).state is QuoteState.DRAFT
        paid = await quotes.pay(original.number, payment_method=await gateway.tokenize(GOOD))
        await quote_result(env.client, original.number)
        with pytest.raises(Refused):
            await quotes.accept(revision.number, pay=True, payment_method=await gateway.tokenize(GOOD))
        await audit(env, pool, gateway)
    assert paid.state is QuoteState.PAID
    assert await rows(pool, "SELECT id FROM subscriptions WHERE id LIKE 'SUB-Q-%%'") == [
        {"id": f"SUB-{original.number}-1"}
    ]


async def test_r20_a_quote_that_cannot_go_on_lets_go_of_every_hold(env: WorkflowEnvironment, pool, settings) -> None:
    """A business failure nothing decides about (here a calendar refusing one line's attach for good) stops
    the quote; on 518b699 the failed workflow kept the hold it had taken on the other line, and auto-renew
    stayed off for ever. Now it settles first: the hold goes, auto-renew is back, then it fails saying why."""
    from activities.subscriptions import AttachQuoteInput, SubscriptionActivities
    from contracts.subscription import AutoRenewState
    from runtime.temporal import activities

    real = SubscriptionActivities(env.client, pool)

    @activity.defn(name="attach_quote")
    async def attach(input: AttachQuoteInput) -> AutoRenewState:
        if input.subscription_id == "SUB-1003":
            raise failure(Failure.INVALID_DATA, "SUB-1003: the calendar refuses this quote (test)")
        return await real.attach_quote(input)

    others = [a for a in activities(env.client, pool, settings) if a.__name__ != "attach_quote"]
    async with quote_stack(env, pool, settings, worker=worker_with(env.client, settings, [*others, attach])) as quotes:
        with pytest.raises(Stopped, match="SUB-1003: the calendar refuses this quote"):
            await quotes.create(request("SUB-1001", "SUB-1003", pause_auto_renew=True))
        held = await calendar(env.client, "SUB-1001")
        await audit(env, pool)
    assert (held.held_by, held.pending, held.auto_renew) == ([], [], True)
    assert (await subscription_row(pool, "SUB-1001"))["held_by"] == []


class LateGateway(CountingGateway):
    """The provider's answer to the charge is lost, it says "no such charge" when asked, and the charge
    lands afterwards (a late completion): the money arrives after the quote heard "not charged"."""

    def __init__(self, pool) -> None:
        super().__init__(pool)
        self.late: ChargeRequest | None = None

    async def charge(self, request: ChargeRequest) -> Charge:
        self.charge_calls[request.idempotency_key] += 1
        if self.late is None:
            self.late = request
            raise OutcomeUnknown(f"the answer for {request.idempotency_key} was lost (test)")
        return await super().charge(request)

    async def find(self, idempotency_key: str) -> Charge | None:
        found = await super().find(idempotency_key)
        if found is None and self.late is not None and self.charge_calls[idempotency_key] == 1:
            self.charge_calls[idempotency_key] += 1
            await super().charge(self.late)  # lands just after the answer "none"
        return found


async def test_r20_a_charge_that_lands_after_not_charged_is_refunded_when_the_quote_ends_unpaid(
    env: WorkflowEnvironment, pool, settings
) -> None:
    """On 518b699 the quote refunded only money it knew it had taken: a charge completing after the provider
    said "not charged" was kept when the quote expired. Now an unpaid ending refunds whatever its key holds."""
    gateway = LateGateway(pool)
    async with quote_stack(env, pool, settings, gateway=gateway) as quotes:
        quote = await quotes.create(request("SUB-1001"), send=True)
        await quotes.accept(quote.number)
        with pytest.raises(Refused, match="nothing was charged"):
            await quotes.pay(quote.number, payment_method=await gateway.tokenize(GOOD))
        assert [c["refunded"] for c in (await money(pool, quote.number))["charges"]] == [False]
        await skip(env, quote.number, timedelta(days=31))
        result = await quote_result(env.client, quote.number)
        await audit(env, pool, gateway)
    assert result.state is QuoteState.EXPIRED
    charges = (await money(pool, quote.number))["charges"]
    assert [(c["amount"], c["refunded"]) for c in charges] == [(Decimal("9135.00"), True)]


async def test_r20_a_webhook_receiver_that_is_down_never_holds_up_the_next_term(
    env: WorkflowEnvironment, pool, settings
) -> None:
    """On 518b699 a calendar waited for its term's webhook deliveries (up to 3 days) before its next run;
    now it waits a minute and carries what is left to the next run, same event ids."""
    from domain.calendar import TermCalendar
    from tests.helpers import free_port, next_run, start_calendars

    down = settings.model_copy(
        update={"webhook_urls": f"http://127.0.0.1:{free_port()}/hook", "webhook_secret": SecretStr("s3cret-for-tests")}
    )
    async with quote_stack(env, pool, down):
        end = (await subscription_row(pool, "SUB-1001"))["end_date"]
        await start_calendars(env, pool, down, "SUB-1001")
        handle = env.client.get_workflow_handle("subscription-SUB-1001")
        first = (await handle.describe()).run_id
        await env.sleep(TermCalendar.of(end).renewal_due - await env.get_current_time() + timedelta(seconds=1))
        await env.sleep(timedelta(minutes=2))  # the deliveries' minute, the receiver still down
        await next_run(handle, first)
        history = await env.client.get_workflow_handle("subscription-SUB-1001", run_id=first).fetch_history()
        continued = history.events[-1].event_time.ToDatetime()
        renewed_at = TermCalendar.of(end).renewal_due.replace(tzinfo=None)
        state = await calendar(env.client, "SUB-1001")
        carried = (await handle.describe()).raw_description.pending_activities
    assert [a.activity_id for a in carried] == [
        a.activity_id for a in carried if "subscription.renewed" in a.activity_id
    ]
    assert carried, "the renewal's webhook, same event id, is delivered by the next run"
    assert continued - renewed_at < timedelta(hours=1)
    assert state.end_date == end.replace(year=end.year + 1)
