"""R20, R21 on the time-skipping server with the real store: an outage delays a quote and never costs money,
a term or a hold; a payment whose answer was lost is pending until the provider says; every ending
settles. Each test ends with the audit clean (money and terms reconciled)."""

import asyncio
from datetime import timedelta
from decimal import Decimal

import pytest
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from contracts.subscription import TermInput
from domain.calendar import TermCalendar
from domain.errors import PaymentDeclined, Refused, Stopped
from domain.quotes import QuoteState, subscription_workflow_id
from payments.gateway import Card
from tests.helpers import (
    CountingGateway,
    Outage,
    audit,
    calendar,
    charges,
    money,
    pass_time,
    quote_result,
    quote_stack,
    request,
    rows,
    scalar,
    skip,
    skip_to,
    start_calendars,
    subscription_row,
    subscriptions,
    until,
)
from workers.demo_data import ACME, DE_VRIES, demo_data
from workflows.subscription import SubscriptionWorkflow

pytestmark = pytest.mark.asyncio(loop_scope="session")
DAY = timedelta(days=1)
GOOD = Card(holder="A. Buyer", number="4242 4242 4242 4242", expiry="12/29", cvc="123")
LOST = Card(holder="A. Buyer", number="4000 0000 0000 5126", expiry="12/29", cvc="123")
UNAVAILABLE = Card(holder="A. Buyer", number="4000 0000 0000 0119", expiry="12/29", cvc="123")


def impatient(settings):
    """A buyer who waits one second for a payment before hearing it is pending (20 s by default)."""
    return settings.model_copy(update={"payment_wait_seconds": 1.0})


async def test_r20_a_charge_whose_answer_is_lost_is_pending_refuses_other_payments_then_is_paid_once(
    env: WorkflowEnvironment, pool, settings
) -> None:
    """#1: the answer is lost and the provider unreachable for a while: the buyer hears "pending", an offline
    payment meanwhile is refused, and once the provider answers by key the quote is paid, charged once."""
    gateway = CountingGateway(pool, lost_for=timedelta(seconds=4))
    async with quote_stack(env, pool, impatient(settings), gateway=gateway) as quotes:
        quote = await quotes.create(request("SUB-1001"), send=True)
        pending = await quotes.accept(quote.number, pay=True, payment_method=await gateway.tokenize(LOST))
        assert (pending.state, pending.payment) == (QuoteState.ACCEPTED, "pending")
        with pytest.raises(Refused) as offline:
            await quotes.pay(quote.number, reference="BANK-1")
        assert offline.value.rule == "R20" and "being confirmed" in offline.value.message
        result = await quote_result(env.client, quote.number)
        shown = await quotes.show(quote.number)
        await audit(env, pool, gateway)
    assert result.state is QuoteState.PAID and shown.payment is None and shown.payment_reference.startswith("ch_")
    assert await charges(pool, quote.number) == 1
    assert await scalar(pool, "SELECT count(*) FROM payments WHERE quote_number = %s", quote.number) == 1
    assert await scalar(pool, "SELECT method FROM payments WHERE quote_number = %s", quote.number) == "card"


async def test_r20_a_provider_answering_503_is_waited_for_and_the_quote_paid_once(
    env: WorkflowEnvironment, pool, settings
) -> None:
    gateway = CountingGateway(pool, unavailable_for=timedelta(seconds=2))
    async with quote_stack(env, pool, settings, gateway=gateway) as quotes:
        quote = await quotes.create(request("SUB-1001"), send=True)
        await quotes.accept(quote.number, pay=True, payment_method=await gateway.tokenize(UNAVAILABLE))
        assert (await quote_result(env.client, quote.number)).state is QuoteState.PAID
        await audit(env, pool, gateway)
    assert gateway.charge_calls[f"quote-{quote.number}"] >= 2 and await charges(pool, quote.number) == 1


def failing_pricing() -> Outage:
    """Pricing that fails for good (bad data), as the store's numeric overflow would."""
    import psycopg.errors
    from temporalio import activity

    from activities.pricing import PriceQuoteInput, PriceQuoteResult

    @activity.defn(name="price_quote")
    async def overflowing(input: PriceQuoteInput) -> PriceQuoteResult:
        raise psycopg.errors.NumericValueOutOfRange("numeric field overflow")

    return Outage(price_quote=overflowing)


async def test_r20_a_quote_sent_at_creation_whose_pricing_fails_says_it_stopped_and_its_auto_quote_never_blocks_the_calendar(
    env: WorkflowEnvironment, pool, settings
) -> None:
    """#2: `quote create --send` hears the quote stopped (never hangs), and an auto quote that cannot be made
    is recorded as not sent while the term goes on to lapse at its window close."""
    worker = failing_pricing().worker(env, pool, settings)
    async with quote_stack(env, pool, settings, worker=worker) as quotes:
        with pytest.raises(Stopped) as stopped:
            await asyncio.wait_for(quotes.create(request("SUB-1001"), send=True), 30)
        assert "cannot go on" in stopped.value.message
        end = (await subscription_row(pool, "SUB-1002"))["end_date"]  # annual, direct, auto-renew off: R12
        await start_calendars(env, pool, settings, "SUB-1002")
        await skip_to(env, TermCalendar.of(end).auto_quote + DAY, "SUB-1002")
        await until(
            lambda: _details_contain(env, "SUB-1002", "auto quote not sent"), "the auto quote recorded as not sent"
        )
        await skip_to(env, TermCalendar.of(end).window_closes + DAY, "SUB-1002")
        await until(lambda: _lapsed(pool, "SUB-1002"), "SUB-1002 lapsed at its window close")


async def _details_contain(env: WorkflowEnvironment, sub_id: str, text: str) -> bool:
    handle = env.client.get_workflow_handle(subscription_workflow_id(sub_id))
    return text in (await handle.query("__temporal_workflow_metadata")).current_details


async def _lapsed(pool, sub_id: str) -> bool:
    return (await subscription_row(pool, sub_id))["lapsed_on"] is not None


async def test_r20_a_database_outage_when_the_quote_expires_delays_the_expiry_and_releases_the_hold(
    env: WorkflowEnvironment, pool, settings
) -> None:
    """#3: the store is down for hours of (skipped) time when the expiry timer fires: the quote waits, then
    expires, and the auto-renew hold it took is released with the value from before (R03)."""
    outage = Outage()
    async with quote_stack(env, pool, settings, worker=outage.worker(env, pool, settings)) as quotes:
        quote = await quotes.create(request("SUB-1001", seats={"SUB-1001": 6}, origin="partner"), send=True)
        assert (await subscription_row(pool, "SUB-1001"))["held_by"] == [quote.number]
        # Up to an hour before the expiry (its reminders written), then the store goes down.
        await pass_time(env, quote.expires_at - await env.get_current_time() - timedelta(hours=1), timedelta(days=1))
        outage.down.add("save_quote")
        await pass_time(env, timedelta(hours=1, minutes=1), timedelta(minutes=15))
        await until(lambda: _calls_after(outage, "save_quote", 4), "the expiry's write retried through the outage")
        await pass_time(env, timedelta(minutes=30))
        assert (await quotes.show(quote.number)).state is QuoteState.EXPIRED  # the workflow's own state
        outage.down.clear()
        await env.sleep(timedelta(minutes=3))  # the next attempt, at most two minutes after the last
        result = await quote_result(env.client, quote.number)
        row = await subscription_row(pool, "SUB-1001")
        await audit(env, pool)
    assert result.state is QuoteState.EXPIRED
    assert row["held_by"] == [] and row["auto_renew"] is True
    assert await scalar(pool, "SELECT state FROM quotes WHERE number = %s", quote.number) == "expired"


async def _calls_after(outage: Outage, name: str, n: int) -> bool:
    return outage.calls[name] >= n


async def test_r20_renewing_after_the_charge_is_retried_through_an_outage_until_paid(
    env: WorkflowEnvironment, pool, settings, gateway
) -> None:
    """#4: the calendars and the store are down right after the charge: the renewal waits, then happens, and
    the quote is paid once; nothing is refunded, no reservation is left."""
    outage = Outage()
    async with quote_stack(env, pool, settings, worker=outage.worker(env, pool, settings, gateway)) as quotes:
        quote = await quotes.create(request("SUB-1001"), send=True)
        outage.down.add("renew_terms")
        paying = asyncio.create_task(quotes.accept(quote.number, pay=True, payment_method=await gateway.tokenize(GOOD)))
        await until(lambda: _calls_after(outage, "renew_terms", 5), "renew_terms retried through the outage")
        await env.sleep(timedelta(minutes=30))
        outage.down.clear()
        await paying
        result = await quote_result(env.client, quote.number)
        await audit(env, pool, gateway)
    assert result.state is QuoteState.PAID and await charges(pool, quote.number) == 1
    assert (await subscription_row(pool, "SUB-1001"))["reserved_by"] is None


async def test_r20_a_renewal_that_fails_for_good_after_the_charge_refunds_ends_the_quote_and_it_is_never_paid_again(
    env: WorkflowEnvironment, pool, settings, gateway
) -> None:
    """#4, #9: bad data when renewing after the charge: the money goes back, the reservation is released, the
    quote ends (cancelled by the system, saying why), and paying again takes nothing."""
    from temporalio import activity

    from activities.subscriptions import RenewTermsInput, RenewTermsResult
    from domain.errors import BadInput

    @activity.defn(name="renew_terms")
    async def bad_data(input: RenewTermsInput) -> RenewTermsResult:
        raise BadInput("the seat count does not fit the store")

    outage = Outage(renew_terms=bad_data)
    async with quote_stack(env, pool, settings, worker=outage.worker(env, pool, settings, gateway)) as quotes:
        quote = await quotes.create(request("SUB-1001"), send=True)
        with pytest.raises(Refused) as refused:
            await quotes.accept(quote.number, pay=True, payment_method=await gateway.tokenize(GOOD))
        assert refused.value.rule == "R16" and "the payment was refunded" in refused.value.message
        with pytest.raises(Refused) as again:
            await quotes.pay(quote.number, payment_method=await gateway.tokenize(GOOD))
        result = await quote_result(env.client, quote.number)
        shown = await quotes.show(quote.number)
        await audit(env, pool, gateway)
    assert again.value.rule in ("lifecycle", "R16")
    assert result.state is QuoteState.CANCELLED and shown.cancelled_by == "system"
    assert "the payment was refunded" in shown.cancel_reason
    # The whole charge went back (5 × 2,030.00 − RENEW10 1,015.00), and the payment row says so.
    moved = await money(pool, quote.number)
    assert [(c["amount"], c["currency"], c["refunded"]) for c in moved["charges"]] == [
        (Decimal("9135.00"), "EUR", True)
    ]
    assert [(p["amount"], p["currency"], p["refunded"]) for p in moved["payments"]] == [
        (Decimal("9135.00"), "EUR", True)
    ]
    assert gateway.charge_calls[f"quote-{quote.number}"] == 1
    row = await subscription_row(pool, "SUB-1001")
    assert row["reserved_by"] is None and row["held_by"] == []


async def test_r20_take_payment_on_a_refunded_key_takes_nothing(pool, gateway) -> None:
    """#9: the provider returns a refunded charge for its key; paying with it again is refused, not free."""
    from temporalio.exceptions import ApplicationError

    from activities.payments import PaymentActivities, TakePaymentInput

    payments = PaymentActivities(gateway, pool)
    job = TakePaymentInput(
        quote_number="Q-424242", amount="10.00", currency="EUR", payment_method=await gateway.tokenize(GOOD)
    )
    await ActivityEnvironment().run(payments.take_payment, job)
    assert await gateway.refund("quote-Q-424242")
    with pytest.raises(ApplicationError) as refused:
        await ActivityEnvironment().run(payments.take_payment, job)
    assert (refused.value.type, refused.value.non_retryable) == ("ChargeRefunded", True)


async def test_r17_accept_and_pay_refused_at_reservation_leaves_the_quote_accepted_and_holding(
    env: WorkflowEnvironment, pool, settings, gateway
) -> None:
    """#5: "try again in a moment" (another payment holds the term) still leaves the accepted quote holding
    auto-renew, so auto-renew cannot renew at list price what the buyer agreed to renew (R17)."""
    async with quote_stack(env, pool, settings, gateway=gateway) as quotes:
        await start_calendars(env, pool, settings, "SUB-1001")
        end = (await subscription_row(pool, "SUB-1001"))["end_date"]
        quote = await quotes.create(request("SUB-1001"), send=True)
        handle = env.client.get_workflow_handle(subscription_workflow_id("SUB-1001"))
        await handle.execute_update(SubscriptionWorkflow.reserve, TermInput(holder="Q-999999", term_end=end))
        with pytest.raises(Refused) as refused:
            await quotes.accept(quote.number, pay=True, payment_method=await gateway.tokenize(GOOD))
        shown = await quotes.show(quote.number)
        state = await calendar(env.client, "SUB-1001")
        await handle.execute_update(SubscriptionWorkflow.release, TermInput(holder="Q-999999", term_end=end))
        await quotes.pay(quote.number, payment_method=await gateway.tokenize(GOOD))
        await quote_result(env.client, quote.number)
        await audit(env, pool, gateway)
    assert "try again in a moment" in refused.value.message
    assert shown.state is QuoteState.ACCEPTED and state.held_by == [quote.number] and not state.auto_renew
    assert await charges(pool, quote.number) == 1


async def test_r03_one_click_pay_of_an_unchanged_quote_leaves_auto_renew_as_it_was(
    env: WorkflowEnvironment, pool, settings, gateway
) -> None:
    """#5, R03 (amended): paying an unchanged quote at once held nothing, so auto-renew stays as the buyer
    left it (off): paying never signs the buyer up for automatic charging. On 518b699 it was switched on."""
    async with quote_stack(env, pool, settings, gateway=gateway) as quotes:
        assert (await subscription_row(pool, "SUB-1002"))["auto_renew"] is False
        quote = await quotes.create(request("SUB-1002"), send=True)
        await quotes.accept(quote.number, pay=True, payment_method=await gateway.tokenize(GOOD))
        await quote_result(env.client, quote.number)
        state = await calendar(env.client, "SUB-1002")
        await audit(env, pool, gateway)
    assert state.auto_renew is False and (await subscription_row(pool, "SUB-1002"))["auto_renew"] is False


async def _load_later_end_date_unannounced(pool, sub_id: str, years: int = 1):
    """What a load commits before its signal reaches the calendar: the store's row moved to a later end."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "UPDATE subscriptions SET end_date = end_date + make_interval(years => %s) WHERE id = %s RETURNING end_date",
            (years, sub_id),
        )
        return (await cur.fetchone())["end_date"]


async def test_r18_a_term_a_load_already_moved_is_never_paid_for_nor_auto_renewed(
    env: WorkflowEnvironment, pool, settings, gateway
) -> None:
    """#6: in the gap between a load's commit and its signal, neither a payment nor auto-renew bills the old
    term: the quote is refused before any charge, and auto-renew adopts the term renewed elsewhere."""
    async with quote_stack(env, pool, settings, gateway=gateway) as quotes:
        await start_calendars(env, pool, settings, "SUB-1001", "SUB-1003")
        quote = await quotes.create(request("SUB-1001"), send=True)
        await _load_later_end_date_unannounced(pool, "SUB-1001")
        with pytest.raises(Refused) as refused:
            await quotes.accept(quote.number, pay=True, payment_method=await gateway.tokenize(GOOD))
        end = (await subscription_row(pool, "SUB-1003"))["end_date"]
        moved = await _load_later_end_date_unannounced(pool, "SUB-1003")
        await skip_to(env, TermCalendar.of(end).renewal_due + DAY, "SUB-1003")
        state = await calendar(env.client, "SUB-1003")
        await quotes.cancel(quote.number, "sales")
        await quote_result(env.client, quote.number)
        await audit(env, pool, gateway)
    assert refused.value.rule == "R16" and "renewed outside this system" in refused.value.message
    assert gateway.charge_calls[f"quote-{quote.number}"] == 0
    assert await scalar(pool, "SELECT count(*) FROM renewals") == 0
    assert state.end_date == moved


async def test_r20_auto_renew_waits_out_a_database_outage_at_midnight_and_renews_once(
    env: WorkflowEnvironment, pool, settings
) -> None:
    """#7: the store is down for half an hour when the term ends: the auto-renewal waits, never gives up, and
    renews once; no failure is recorded."""
    outage = Outage()
    async with quote_stack(env, pool, settings, worker=outage.worker(env, pool, settings)):
        end = (await subscription_row(pool, "SUB-1001"))["end_date"]
        await start_calendars(env, pool, settings, "SUB-1001")
        await skip_to(env, TermCalendar.of(end).renewal_due - timedelta(minutes=1), "SUB-1001")
        outage.down.add("auto_renew")
        await env.sleep(timedelta(minutes=2))
        await until(lambda: _calls_after(outage, "auto_renew", 4), "auto_renew retried through the outage")
        await env.sleep(timedelta(minutes=30))
        outage.down.clear()
        await env.sleep(timedelta(minutes=3))  # the next attempt, at most two minutes after the last
        await until(lambda: _renewed(pool, "SUB-1001"), "SUB-1001 auto-renewed after the outage")
        await audit(env, pool)
    renewals = await rows(pool, "SELECT source FROM renewals WHERE subscription_id = 'SUB-1001'")
    assert [r["source"] for r in renewals] == ["auto-renew"]
    assert await scalar(pool, "SELECT count(*) FROM auto_renew_failures") == 0


async def _renewed(pool, sub_id: str) -> bool:
    return bool(await scalar(pool, "SELECT count(*) FROM renewals WHERE subscription_id = %s", sub_id))


async def test_r18_a_lapsing_calendar_reopened_by_a_load_goes_on_with_the_new_term(
    env: WorkflowEnvironment, pool, settings, tmp_path
) -> None:
    """#8: a calendar still delivering its lapse webhook when a load reopens the subscription keeps running
    with the new term, instead of ending and leaving it without a calendar."""
    from pydantic import SecretStr

    from tests.helpers import free_port
    from workers.serving import serve
    from workers.webhook_sink import WebhookSink

    port = free_port()
    hooked = settings.model_copy(
        update={"webhook_urls": f"http://127.0.0.1:{port}/webhooks", "webhook_secret": SecretStr("whsec_t")}
    )
    async with quote_stack(env, pool, hooked):
        end = (await subscription_row(pool, "SUB-1007"))["end_date"]  # auto-renew off: it lapses
        await start_calendars(env, pool, hooked, "SUB-1007")
        await skip_to(env, TermCalendar.of(end).window_closes + DAY)
        await until(lambda: _lapsed(pool, "SUB-1007"), "SUB-1007 lapsed")
        data = demo_data((await env.get_current_time()).date() - (TermCalendar.of(end).window_closes.date() - end))
        later = end.replace(year=end.year + 1)
        reopened = data.model_copy(
            update={
                "subscriptions": [
                    s.model_copy(update={"end_date": later}) for s in data.subscriptions if s.id == "SUB-1007"
                ]
            }
        )
        await subscriptions(env, pool, hooked).load(reopened)
        stop = await serve(WebhookSink(tmp_path / "hooks", "whsec_t").app(), "127.0.0.1", port)
        await env.sleep(timedelta(hours=2))  # the receiver is back: the lapse webhook goes out, the calendar goes on
        description = await env.client.get_workflow_handle(subscription_workflow_id("SUB-1007")).describe()
        state = await calendar(env.client, "SUB-1007")
        await stop()
    assert description.status.name == "RUNNING" and state.end_date == later


async def test_r20_releasing_a_term_at_a_finished_calendar_returns_at_once(
    env: WorkflowEnvironment, pool, settings
) -> None:
    """#10: a calendar that has ended holds nothing; releasing there never keeps a quote waiting."""
    from activities.subscriptions import SubscriptionActivities, TermRef, TermsInput

    async with quote_stack(env, pool, settings):
        end = (await subscription_row(pool, "SUB-1007"))["end_date"]
        await start_calendars(env, pool, settings, "SUB-1007")
        await skip_to(env, TermCalendar.of(end).window_closes + DAY, "SUB-1007")
        await env.client.get_workflow_handle(subscription_workflow_id("SUB-1007")).result()
        released = await asyncio.wait_for(
            ActivityEnvironment().run(
                SubscriptionActivities(env.client, pool).release_terms,
                TermsInput(quote_number="Q-1", terms=[TermRef(subscription_id="SUB-1007", term_end=end)]),
            ),
            10,
        )
    assert released.released == 1


async def test_r02_the_switch_is_refused_while_an_auto_renewal_is_under_way(
    env: WorkflowEnvironment, pool, settings
) -> None:
    """#11: turning auto-renew off while it is renewing the term is refused (it would renew anyway); once
    the term is renewed the switch is taken for the next term."""
    outage = Outage()
    async with quote_stack(env, pool, settings, worker=outage.worker(env, pool, settings)):
        end = (await subscription_row(pool, "SUB-1001"))["end_date"]
        await start_calendars(env, pool, settings, "SUB-1001")
        await skip_to(env, TermCalendar.of(end).renewal_due - timedelta(minutes=1), "SUB-1001")
        outage.down.add("auto_renew")
        await env.sleep(timedelta(minutes=2))
        await until(lambda: _calls_after(outage, "auto_renew", 2), "the auto-renewal under way")
        with pytest.raises(Refused) as refused:
            await subscriptions(env, pool, settings).set_auto_renew("SUB-1001", False)
        outage.down.clear()
        await env.sleep(timedelta(minutes=3))
        await until(lambda: _renewed(pool, "SUB-1001"), "SUB-1001 auto-renewed")
        switched = await subscriptions(env, pool, settings).set_auto_renew("SUB-1001", False)
    assert refused.value.rule == "R02" and "being auto-renewed" in refused.value.message
    assert switched.auto_renew is False and switched.end_date == end.replace(year=end.year + 1)


async def test_r21_a_load_that_moves_a_subscription_to_another_customer_ends_the_old_owners_quotes(
    env: WorkflowEnvironment, pool, settings, gateway
) -> None:
    """#12: the old owner's pending quote is cancelled by the system, saying where the subscription went,
    and can no longer be paid; its hold is released."""
    async with quote_stack(env, pool, settings, gateway=gateway) as quotes:
        quote = await quotes.create(request("SUB-1001", seats={"SUB-1001": 6}, origin="partner"), send=True)
        data = demo_data((await env.get_current_time()).date())
        moved = data.model_copy(
            update={
                "subscriptions": [
                    s.model_copy(update={"csn": DE_VRIES}) if s.id == "SUB-1001" else s for s in data.subscriptions
                ]
            }
        )
        await subscriptions(env, pool, settings).load(moved)
        result = await quote_result(env.client, quote.number)
        shown = await quotes.show(quote.number)
        with pytest.raises(Refused):
            await quotes.pay(quote.number, payment_method=await gateway.tokenize(GOOD))
        state = await calendar(env.client, "SUB-1001")
        await audit(env, pool, gateway)
    assert result.state is QuoteState.CANCELLED and shown.cancelled_by == "system"
    assert shown.cancel_reason == f"the subscription moved to customer {DE_VRIES} (direct)"
    assert state.held_by == [] and state.pending == []


async def test_r21_a_term_is_reserved_only_for_a_quote_of_its_current_owner(
    env: WorkflowEnvironment, pool, settings
) -> None:
    from contracts.subscription import Owner

    async with quote_stack(env, pool, settings):
        await start_calendars(env, pool, settings, "SUB-1001")
        end = (await subscription_row(pool, "SUB-1001"))["end_date"]
        handle = env.client.get_workflow_handle(subscription_workflow_id("SUB-1001"))
        other = Owner(csn=DE_VRIES, purchase_method="direct")
        refused = await handle.execute_update(
            SubscriptionWorkflow.reserve, TermInput(holder="Q-777777", term_end=end, owner=other)
        )
        granted = await handle.execute_update(
            SubscriptionWorkflow.reserve,
            TermInput(holder="Q-777777", term_end=end, owner=Owner(csn=ACME, purchase_method="direct")),
        )
        await handle.execute_update(SubscriptionWorkflow.release, TermInput(holder="Q-777777", term_end=end))
    assert (refused.granted, refused.rule) == (False, "R21")
    assert f"now belongs to customer {ACME} (direct)" in refused.reason
    assert granted.granted


async def test_r20_a_payment_whose_steps_were_lost_in_a_crash_goes_on_to_paid_when_retried(
    env: WorkflowEnvironment, pool, settings, gateway
) -> None:
    """#13: the pay step's local activities reserved, charged and renewed, but the workflow task that ran
    them never completed (the worker was killed): the calendar, the store and the provider kept theirs, the
    quote's history did not. The buyer's retry finds the term reserved and renewed by this same quote, the
    charge taken under its key, and goes on to paid; charged once, renewed once."""
    from activities.payments import PaymentActivities, TakePaymentInput
    from activities.subscriptions import RenewTermsInput, SubscriptionActivities, TermRef, TermRenewal, TermsInput
    from contracts.subscription import Owner

    async with quote_stack(env, pool, settings, gateway=gateway) as quotes:
        quote = await quotes.create(request("SUB-1001"), send=True)
        line = quote.lines[0]
        token = await gateway.tokenize(GOOD)
        # What the lost workflow task did, step by step, with the same inputs.
        calendars = SubscriptionActivities(env.client, pool)
        run = ActivityEnvironment().run
        term = TermRef(subscription_id="SUB-1001", term_end=line.end_date)
        owner = Owner(csn=ACME, purchase_method="direct")
        await run(calendars.reserve_terms, TermsInput(quote_number=quote.number, terms=[term], owner=owner))
        payment = TakePaymentInput(quote_number=quote.number, amount=quote.total, currency="EUR", payment_method=token)
        await run(PaymentActivities(gateway, pool).take_payment, payment)
        renewal = TermRenewal(
            subscription_id="SUB-1001",
            term_end=line.end_date,
            to_end_date=line.new_end_date,
            seats=line.seats,
            term=line.term,
        )
        await run(calendars.renew_terms, RenewTermsInput(quote_number=quote.number, renewals=[renewal]))
        # The buyer, told nothing, pays again.
        paid = await quotes.accept(quote.number, pay=True, payment_method=token)
        await quote_result(env.client, quote.number)
        await audit(env, pool, gateway)
    assert paid.state is QuoteState.PAID
    assert await charges(pool, quote.number) == 1
    assert await scalar(pool, "SELECT count(*) FROM renewals WHERE subscription_id = 'SUB-1001'") == 1


class RefusesOneRecipient:
    """An SMTP server that refuses one mailbox for good (550) and takes the others."""

    def __init__(self, folder) -> None:
        from workers.smtp_sink import MailDirHandler

        self.sink = MailDirHandler(folder)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("gone@"):
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        return await self.sink.handle_DATA(server, session, envelope)


async def test_r20_one_recipient_the_mail_server_refuses_never_stops_the_others(
    env: WorkflowEnvironment, pool, settings, tmp_path
) -> None:
    """#14: the refused recipient is recorded (and shown by `renewals ops stuck`); every other recipient,
    before and after it, gets the quote."""
    from aiosmtpd.controller import Controller

    from payments.fake import FakeGateway
    from services.ops import OpsService
    from tests.helpers import Mailbox, free_port

    port = free_port()
    server = Controller(RefusesOneRecipient(tmp_path / "mail"), hostname="127.0.0.1", port=port)
    server.start()
    try:
        async with quote_stack(env, pool, settings.model_copy(update={"smtp_port": port})) as quotes:
            recipients = ["gone@acme.example", "cfo@acme.example"]
            quote = await quotes.create(request("SUB-1001", recipients=recipients), send=True)
            await until(lambda: _mail_settled(pool, quote.number, 3), "every recipient's email settled")
            stuck = await OpsService(env.client, pool, FakeGateway(pool)).refused_mail()
    finally:
        server.stop()
    delivered = sorted(m["To"] for m in Mailbox.read(tmp_path / "mail"))
    assert delivered == ["buyer@acme.example", "cfo@acme.example"]
    statuses = await rows(pool, "SELECT recipient, status FROM sent_mail ORDER BY recipient")
    assert [(r["recipient"], r["status"]) for r in statuses] == [
        ("buyer@acme.example", "sent"),
        ("cfo@acme.example", "sent"),
        ("gone@acme.example", "refused"),
    ]
    assert [(s.reason, s.workflow_id) for s in stuck] == [("email refused", f"quote-{quote.number}")]
    assert "gone@acme.example" in stuck[0].detail


async def _mail_settled(pool, number: str, n: int) -> bool:
    return n == await scalar(
        pool, "SELECT count(*) FROM sent_mail WHERE quote_number = %s AND status <> 'sending'", number
    )


async def test_r20_audit_names_money_kept_for_an_unpaid_quote_and_a_hold_of_an_ended_one(
    env: WorkflowEnvironment, pool, settings, gateway
) -> None:
    """The audit can fail: money charged for a quote that ended unpaid, and a hold left by an ended quote,
    are each reported."""
    from services import audit as auditing

    async with quote_stack(env, pool, settings, gateway=gateway) as quotes:
        quote = await quotes.create(request("SUB-1001"), send=True)
        await quotes.accept(quote.number)
        await quotes.cancel(quote.number, "sales")
        await quote_result(env.client, quote.number)
        clean = await auditing.audit(env.client, pool, gateway, calendars=False)
        from payments.gateway import ChargeRequest

        await gateway.charge(
            ChargeRequest(
                idempotency_key=f"quote-{quote.number}",
                payment_method=await gateway.tokenize(GOOD),
                amount=quote.total,
                currency="EUR",
            )
        )
        async with pool.connection() as conn:
            await conn.execute(
                "INSERT INTO auto_renew_holds (subscription_id, quote_number) VALUES ('SUB-1001', %s)", (quote.number,)
            )
        found = await auditing.audit(env.client, pool, gateway, calendars=False)
    assert clean.clean and not found.clean
    # The charge has no payment recorded either (the audit reports both since issue 31).
    assert sorted(v.kind for v in found.violations) == ["charge", "hold", "money"]
    assert any(f"{quote.number} is cancelled and holds EUR" in v.detail for v in found.violations)


async def test_r20_audit_names_a_payment_recorded_for_a_quote_that_was_never_accepted(
    env: WorkflowEnvironment, pool, settings, gateway
) -> None:
    """A crash can lose a workflow's last steps while the store keeps the payment they wrote: the quote says
    `sent` (or ends expired) and a payment is recorded for it. The audit reads the payments, not only the
    quotes that say they were accepted."""
    from services import audit as auditing

    async with quote_stack(env, pool, settings, gateway=gateway) as quotes:
        quote = await quotes.create(request("SUB-1001"), send=True)
        async with pool.connection() as conn:
            await conn.execute(
                "INSERT INTO payments (quote_number, reference, amount, currency, method)"
                " VALUES (%s, 'BANK-1', %s, 'EUR', 'offline')",
                (quote.number, quote.total),
            )
        found = await auditing.audit(env.client, pool, gateway, calendars=False)
    assert [(v.kind, v.detail) for v in found.violations] == [
        ("money", f"{quote.number} is sent and holds EUR 9,135.00; it should hold EUR 0.00"),
        # R28: a payment written by hand here has no invoice, which the audit names too.
        ("invoice", f"{quote.number}: 0 invoice(s) for its payment"),
    ]


async def test_r20_a_declined_card_still_declines_and_leaves_nothing_charged(
    env: WorkflowEnvironment, pool, settings, gateway
) -> None:
    declined = Card(holder="A. Buyer", number="4000 0000 0000 0002", expiry="12/29", cvc="123")
    async with quote_stack(env, pool, settings, gateway=gateway) as quotes:
        quote = await quotes.create(request("SUB-1001"), send=True)
        with pytest.raises(PaymentDeclined):
            await quotes.accept(quote.number, pay=True, payment_method=await gateway.tokenize(declined))
        row = await subscription_row(pool, "SUB-1001")
        await quotes.cancel(quote.number, "sales")
        await quote_result(env.client, quote.number)
        await audit(env, pool, gateway)
    assert row["reserved_by"] is None and row["held_by"] == [quote.number]
    assert await charges(pool, quote.number) == 0


async def test_r20_an_outage_that_outlasts_the_buyer_shows_the_payment_pending_then_paid(
    env: WorkflowEnvironment, pool, settings, gateway
) -> None:
    outage, settings = Outage(), impatient(settings)
    async with quote_stack(env, pool, settings, worker=outage.worker(env, pool, settings, gateway)) as quotes:
        quote = await quotes.create(request("SUB-1001"), send=True)
        outage.down.add("reserve_terms")
        pending = await quotes.accept(quote.number, pay=True, payment_method=await gateway.tokenize(GOOD))
        assert pending.payment == "pending"
        with pytest.raises(Refused) as cancel:
            await quotes.cancel(quote.number, "sales")
        outage.down.clear()
        await skip(env, quote.number, timedelta(seconds=1))
        result = await quote_result(env.client, quote.number)
        await audit(env, pool, gateway)
    assert cancel.value.rule == "R20" and result.state is QuoteState.PAID
