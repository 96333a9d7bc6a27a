"""R15, R16, R07: how much is charged, in which currency, and how often, on the time-skipping server with
the real store and the counting fake provider. Every expected figure is worked out by hand from the demo
price book (workers/demo_data.py) in a comment, never by the code under test."""

import asyncio
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
from temporalio.testing import WorkflowEnvironment

from contracts.subscription import TermInput
from domain.errors import Refused
from domain.models import DataFile, QuoteKind
from domain.quote_rules import NewLine, QuoteRequest
from domain.quotes import QuoteState, subscription_workflow_id
from payments.gateway import Card
from store.loader import load
from tests.helpers import (
    CountingGateway,
    Outage,
    audit,
    calendar,
    money,
    paid_once,
    quote_result,
    quote_stack,
    request,
    rows,
    scalar,
    subscription_row,
    until,
)
from workers.demo_data import ACME, SAKURA, demo_data
from workflows.subscription import SubscriptionWorkflow

pytestmark = pytest.mark.asyncio(loop_scope="session")
GOOD = Card(holder="A. Buyer", number="4242 4242 4242 4242", expiry="12/29", cvc="123")
LOST = Card(holder="A. Buyer", number="4000 0000 0000 5126", expiry="12/29", cvc="123")


def a_year_after(end: date) -> date:
    return end.replace(year=end.year + 1)


def prorated(unit: str, seats: int, days: int, term_days: int, places: int) -> Decimal:
    """The R07 formula as the rule states it, half-up to the currency's minor units."""
    exact = Decimal(unit) * seats * days / term_days
    return exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


async def pay_by_card(env, quotes, gateway, number: str):
    await quotes.accept(number, pay=True, payment_method=await gateway.tokenize(GOOD))
    assert (await quote_result(env.client, number)).state is QuoteState.PAID
    return await quotes.show(number)


async def renewed(pool) -> dict[str, tuple]:
    found = await rows(pool, "SELECT subscription_id, from_end_date, to_end_date, seats, quote_number FROM renewals")
    return {r["subscription_id"]: (r["from_end_date"], r["to_end_date"], r["seats"], r["quote_number"]) for r in found}


@pytest.mark.parametrize(
    ("sub_id", "currency", "total"),
    [
        # SUB-1001: 5 × AutoCAD annual EUR 2,030.00 = 10,150.00; RENEW10 10% = 1,015.00 → 9,135.00
        ("SUB-1001", "EUR", "9135.00"),
        # SUB-3001: 10 × AutoCAD annual JPY 280,500 = 2,805,000; YEN5000 = 5,000 off → 2,800,000 (no minor units)
        ("SUB-3001", "JPY", "2800000"),
    ],
)
async def test_r15_renewal_charges_the_total_once_in_the_quotes_currency(
    env: WorkflowEnvironment, pool, settings, gateway, sub_id: str, currency: str, total: str
) -> None:
    async with quote_stack(env, pool, settings, gateway=gateway) as quotes:
        before = await subscription_row(pool, sub_id)
        csn = ACME if currency == "EUR" else SAKURA
        quote = await quotes.create(request(sub_id, csn=csn), send=True)
        paid = await pay_by_card(env, quotes, gateway, quote.number)
        await audit(env, pool, gateway)
    await paid_once(pool, paid, total, currency)
    assert gateway.charge_calls == {f"quote-{quote.number}": 1}
    end = before["end_date"]
    assert await renewed(pool) == {sub_id: (end, a_year_after(end), before["seats"], quote.number)}


@pytest.mark.parametrize(
    ("first", "target", "csn", "currency", "unit", "seats", "places"),
    [
        # SUB-1001 (AutoCAD 5 seats, ends in 20 days) aligned to SUB-1002 (ends in 45): 25 days of a year.
        ("SUB-1001", "SUB-1002", ACME, "EUR", "2030.00", 5, 2),
        # SUB-3001 (AutoCAD 10 seats JPY, ends in 15 days) aligned to SUB-3002 (ends in 60): 45 days.
        ("SUB-3001", "SUB-3002", SAKURA, "JPY", "280500", 10, 0),
    ],
)
async def test_r07_co_term_charges_only_the_days_it_adds(
    env: WorkflowEnvironment, pool, settings, gateway, first, target, csn, currency, unit, seats, places
) -> None:
    async with quote_stack(env, pool, settings, gateway=gateway) as quotes:
        end = (await subscription_row(pool, first))["end_date"]
        to = (await subscription_row(pool, target))["end_date"]
        quote = await quotes.create(request(first, target, csn=csn, kind="co-term"), send=True)
        paid = await pay_by_card(env, quotes, gateway, quote.number)
        await audit(env, pool, gateway)
    # e.g. 5 × 2,030.00 × 25 / 365 = 695.205… → 695.21; 10 × 280,500 × 45 / 365 = 345,821.9… → 345,822.
    # No promotion applies to co-term lines in the demo price book.
    expected = prorated(unit, seats, (to - end).days, (a_year_after(end) - end).days, places)
    await paid_once(pool, paid, expected, currency)
    assert paid.discount_total == 0 and expected < Decimal(unit) * seats
    assert await renewed(pool) == {first: (end, to, seats, quote.number)}


@pytest.mark.parametrize(
    ("currency", "total"),
    [
        # 2 × Maya annual EUR 1,932.00 = 3,864.00; MAYANEW (new purchases) 25% = 966.00 → 2,898.00
        ("EUR", "2898.00"),
        # 2 × Maya annual JPY 262,200 = 524,400; MAYANEW 25% = 131,100 → 393,300
        ("JPY", "393300"),
    ],
)
async def test_r07_new_purchase_charges_the_total_once_and_creates_one_subscription(
    env: WorkflowEnvironment, pool, settings, gateway, currency: str, total: str
) -> None:
    csn = ACME if currency == "EUR" else SAKURA
    async with quote_stack(env, pool, settings, gateway=gateway) as quotes:
        new = QuoteRequest(
            csn=csn, kind=QuoteKind.NEW, currency=currency, new_lines=[NewLine(product="Maya", seats=2, term="annual")]
        )
        quote = await quotes.create(new, send=True)
        paid = await pay_by_card(env, quotes, gateway, quote.number)
        await audit(env, pool, gateway)
    await paid_once(pool, paid, total, currency)
    created = await rows(pool, "SELECT * FROM subscriptions WHERE id LIKE %s", f"SUB-{quote.number}-%")
    assert [(s["product"], s["seats"], s["currency"], s["csn"]) for s in created] == [("Maya", 2, currency, csn)]
    assert await renewed(pool) == {}


async def test_r16_three_lines_one_charge_of_the_total_and_every_term_renewed(
    env: WorkflowEnvironment, pool, settings, gateway
) -> None:
    async with quote_stack(env, pool, settings, gateway=gateway) as quotes:
        ends = {s: (await subscription_row(pool, s))["end_date"] for s in ("SUB-1001", "SUB-1002", "SUB-1003")}
        quote = await quotes.create(request("SUB-1001", "SUB-1002", "SUB-1003"), send=True)
        paid = await pay_by_card(env, quotes, gateway, quote.number)
        await audit(env, pool, gateway)
    # SUB-1001 5 × 2,030.00 = 10,150.00 − RENEW10 1,015.00; SUB-1002 3 × Revit 3,040.00 = 9,120.00 − RENEW10
    # 912.00; SUB-1003 10 × Fusion monthly 79.99 = 799.90 (FUSION15 has ended). Subtotal 20,069.90, discounts
    # 1,927.00, total 18,142.90.
    assert (paid.subtotal, paid.discount_total) == (Decimal("20069.90"), Decimal("1927.00"))
    await paid_once(pool, paid, "18142.90", "EUR")
    monthly = ends["SUB-1003"]
    assert await renewed(pool) == {
        "SUB-1001": (ends["SUB-1001"], a_year_after(ends["SUB-1001"]), 5, quote.number),
        "SUB-1002": (ends["SUB-1002"], a_year_after(ends["SUB-1002"]), 3, quote.number),
        "SUB-1003": (monthly, paid.lines[2].new_end_date, 10, quote.number),
    }
    assert paid.lines[2].new_end_date > monthly


async def test_r16_offline_payment_records_the_total_once_and_charges_no_card(
    env: WorkflowEnvironment, pool, settings, gateway
) -> None:
    async with quote_stack(env, pool, settings, gateway=gateway) as quotes:
        quote = await quotes.create(request("SUB-3001", csn=SAKURA), send=True)
        await quotes.accept(quote.number, pay=True, reference="BANK-7")
        await quote_result(env.client, quote.number)
        paid = await quotes.show(quote.number)
        await audit(env, pool, gateway)
    await paid_once(pool, paid, "2800000", "JPY", method="offline")
    assert paid.payment_reference == "BANK-7" and sum(gateway.charge_calls.values()) == 0


def cents_that_round(data: DataFile) -> DataFile:
    """Unit prices whose 10% discount ends in half a cent: 2,030.05 (AutoCAD) and 3,040.05 (Revit)."""
    new = {"AutoCAD": Decimal("2030.05"), "Revit": Decimal("3040.05")}
    prices = [
        p.model_copy(update={"unit_price": new[p.product]})
        if p.product in new and p.term == "annual" and p.currency == "EUR"
        else p
        for p in data.prices
    ]
    return data.model_copy(update={"prices": prices})


async def test_r15_half_up_per_line_not_on_the_total_nor_bankers(
    env: WorkflowEnvironment, pool, settings, gateway
) -> None:
    async with quote_stack(env, pool, settings, gateway=gateway, data=cents_that_round) as quotes:
        quote = await quotes.create(request("SUB-1001", "SUB-1002"), send=True)
        paid = await pay_by_card(env, quotes, gateway, quote.number)
    # SUB-1001 5 × 2,030.05 = 10,150.25; 10% = 1,015.025 → 1,015.03 half-up (banker's: 1,015.02).
    # SUB-1002 3 × 3,040.05 = 9,120.15; 10% = 912.015 → 912.02.
    # Per line: discounts 1,927.05, total 17,343.35. Rounding the summed discount (1,927.04) or banker's
    # rounding per line (1,927.04) would charge 17,343.36.
    assert [line.discount for line in paid.lines] == [Decimal("1015.03"), Decimal("912.02")]
    assert (paid.subtotal, paid.discount_total) == (Decimal("19270.40"), Decimal("1927.05"))
    await paid_once(pool, paid, "17343.35", "EUR")


async def test_r11_best_single_promotion_charged_on_the_server(
    env: WorkflowEnvironment, pool, settings, gateway
) -> None:
    async with quote_stack(env, pool, settings, gateway=gateway) as quotes:
        # Self-service may change the term (R10): SUB-1002 renews for 3 years. 3 × Revit 3-year 8,208.00 =
        # 24,624.00; REVIT3Y 20% (4,924.80) beats RENEW10 10% (2,462.40) and they never stack → 19,699.20.
        quote = await quotes.create(request("SUB-1002", terms={"SUB-1002": "3-year"}), send=True)
        assert [(line.promotion, line.discount) for line in quote.lines] == [("REVIT3Y", Decimal("4924.80"))]
        paid = await pay_by_card(env, quotes, gateway, quote.number)
    await paid_once(pool, paid, "19699.20", "EUR")


async def test_r16_one_of_three_terms_being_paid_elsewhere_refuses_and_charges_nothing(
    env: WorkflowEnvironment, pool, settings, gateway
) -> None:
    """Every term is reserved before any money moves: one held by another payment stops the whole
    payment, no card is charged, and the two terms reserved meanwhile are let go."""
    async with quote_stack(env, pool, settings, gateway=gateway) as quotes:
        quote = await quotes.create(request("SUB-1001", "SUB-1002", "SUB-1003"), send=True)
        end = (await subscription_row(pool, "SUB-1002"))["end_date"]
        other = env.client.get_workflow_handle(subscription_workflow_id("SUB-1002"))
        await other.execute_update(SubscriptionWorkflow.reserve, TermInput(holder="Q-999999", term_end=end))
        with pytest.raises(Refused) as refused:
            await quotes.accept(quote.number, pay=True, payment_method=await gateway.tokenize(GOOD))
        assert refused.value.rule == "R16" and "SUB-1002 is being renewed by Q-999999" in refused.value.message
        assert sum(gateway.charge_calls.values()) == 0
        assert await money(pool, quote.number) == {"charges": [], "payments": []}
        assert [(await calendar(env.client, s)).reserved_by for s in ("SUB-1001", "SUB-1003")] == [None, None]
        assert await scalar(pool, "SELECT count(*) FROM renewals") == 0
        await other.execute_update(SubscriptionWorkflow.release, TermInput(holder="Q-999999", term_end=end))
        paid = await pay_by_card(env, quotes, gateway, quote.number)
        await audit(env, pool, gateway)
    await paid_once(pool, paid, "18142.90", "EUR")
    assert gateway.charge_calls == {f"quote-{quote.number}": 1}
    assert await scalar(pool, "SELECT count(*) FROM renewals WHERE quote_number = %s", quote.number) == 3


async def test_r16_one_of_three_terms_renewed_by_another_quote_supersedes_it_and_charges_nothing(
    env: WorkflowEnvironment, pool, settings, gateway
) -> None:
    async with quote_stack(env, pool, settings, gateway=gateway) as quotes:
        three = await quotes.create(request("SUB-1001", "SUB-1002", "SUB-1003"), send=True)
        one = await quotes.create(request("SUB-1002"), send=True)
        paid_one = await pay_by_card(env, quotes, gateway, one.number)
        with pytest.raises(Refused) as refused:
            await quotes.accept(three.number, pay=True, payment_method=await gateway.tokenize(GOOD))
        ended = await quote_result(env.client, three.number)
        await audit(env, pool, gateway)
    assert refused.value.rule == "R16" and f"SUB-1002 was renewed by {one.number}" in refused.value.message
    assert ended.state is QuoteState.CANCELLED and ended.renewed == {}
    assert gateway.charge_calls[f"quote-{three.number}"] == 0
    assert await money(pool, three.number) == {"charges": [], "payments": []}
    # 3 × 3,040.00 = 9,120.00 − RENEW10 912.00
    await paid_once(pool, paid_one, "8208.00", "EUR")
    assert {s: r[3] for s, r in (await renewed(pool)).items()} == {"SUB-1002": one.number}
    for sub_id in ("SUB-1001", "SUB-1003"):
        row = await subscription_row(pool, sub_id)
        assert (row["reserved_by"], row["held_by"]) == (None, [])


async def test_r16_a_charge_retried_after_its_answer_was_lost_is_taken_once_by_its_key(
    env: WorkflowEnvironment, pool, settings, gateway
) -> None:
    """The charge reached the provider, then the step's answer was lost (the worker died): the step runs
    again with the same idempotency key, and the provider returns the first charge, not a second."""
    outage = Outage()
    outage.lost.add("take_payment")
    async with quote_stack(env, pool, settings, worker=outage.worker(env, pool, settings, gateway)) as quotes:
        quote = await quotes.create(request("SUB-1001"), send=True)
        paid = await pay_by_card(env, quotes, gateway, quote.number)
        await audit(env, pool, gateway)
    assert outage.calls["take_payment"] == 2 and not outage.lost
    assert gateway.charge_calls == {f"quote-{quote.number}": 2}
    await paid_once(pool, paid, "9135.00", "EUR")
    assert await scalar(pool, "SELECT count(*) FROM renewals") == 1


async def test_r16_pay_the_same_quote_by_card_twice_in_a_row_charges_once(
    env: WorkflowEnvironment, pool, settings, gateway
) -> None:
    """A buyer's second "pay" after the first went through is refused by the quote, never reaching the card."""
    async with quote_stack(env, pool, settings, gateway=gateway) as quotes:
        quote = await quotes.create(request("SUB-1001"), send=True)
        paid = await pay_by_card(env, quotes, gateway, quote.number)
        with pytest.raises(Refused):
            await quotes.pay(quote.number, payment_method=await gateway.tokenize(GOOD))
    await paid_once(pool, paid, "9135.00", "EUR")
    assert gateway.charge_calls == {f"quote-{quote.number}": 1}


async def load_renewed_elsewhere(env: WorkflowEnvironment, pool, sub_id: str) -> None:
    """A file from elsewhere that renewed `sub_id` for a year lands in the store (R18: a later end date is
    adopted); its calendar has not heard of it yet."""
    end = (await subscription_row(pool, sub_id))["end_date"]
    data = demo_data((await env.get_current_time()).date())
    subs = [s.model_copy(update={"end_date": a_year_after(end)}) if s.id == sub_id else s for s in data.subscriptions]
    async with pool.connection() as conn:
        await load(conn, data.model_copy(update={"subscriptions": subs}))


async def pay_while_a_load_moves(
    env: WorkflowEnvironment, pool, quotes, gateway, outage: Outage, number: str, sub_id: str
):
    """Pay by card with the renewal step down; once the money is taken, a load moves `sub_id`; then the
    renewal step comes back. What the buyer hears: the refusal."""
    outage.down.add("renew_terms")
    paying = asyncio.create_task(quotes.accept(number, pay=True, payment_method=await gateway.tokenize(GOOD)))

    async def charged() -> bool:
        return bool((await money(pool, number))["payments"])

    await until(charged, "the charge taken before the renewal")
    await load_renewed_elsewhere(env, pool, sub_id)
    outage.down.clear()
    await env.sleep(timedelta(minutes=3))
    with pytest.raises(Refused) as refused:
        await paying
    return refused.value


async def test_r16_refund_when_a_term_moved_after_the_charge_gives_back_exactly_the_total(
    env: WorkflowEnvironment, pool, settings, gateway
) -> None:
    """The store says the term was renewed outside this system after the money was taken (a load landed
    between the charge and the renewal): the whole charge goes back, the payment row says refunded, and
    the quote ends cancelled saying why."""
    outage = Outage()
    async with quote_stack(env, pool, settings, worker=outage.worker(env, pool, settings, gateway)) as quotes:
        quote = await quotes.create(request("SUB-1001"), send=True)
        refused = await pay_while_a_load_moves(env, pool, quotes, gateway, outage, quote.number, "SUB-1001")
        result = await quote_result(env.client, quote.number)
        shown = await quotes.show(quote.number)
    assert refused.rule == "R16" and "renewed outside this system" in refused.message
    assert result.state is QuoteState.CANCELLED and "the payment was refunded" in shown.cancel_reason
    moved = await money(pool, quote.number)
    assert [(c["amount"], c["currency"], c["refunded"]) for c in moved["charges"]] == [
        (Decimal("9135.00"), "EUR", True)
    ]
    assert [(p["amount"], p["refunded"]) for p in moved["payments"]] == [(Decimal("9135.00"), True)]
    assert gateway.charge_calls == {f"quote-{quote.number}": 1}
    assert await scalar(pool, "SELECT count(*) FROM renewals") == 0


async def test_r20_a_charge_whose_answer_was_lost_is_found_by_its_key_and_refunded_when_the_term_cannot_renew(
    env: WorkflowEnvironment, pool, settings
) -> None:
    """The provider took the money but its answer never came (card 5126); the buyer hears "pending". While
    the quote asks the provider by key, a load says the term was renewed elsewhere: the charge the quote
    never heard of directly is found, given back in full, and the quote ends unpaid, saying why."""
    gateway = CountingGateway(pool, lost_for=timedelta(seconds=4))
    impatient = settings.model_copy(update={"payment_wait_seconds": 1.0})
    async with quote_stack(env, pool, impatient, gateway=gateway) as quotes:
        quote = await quotes.create(request("SUB-1001"), send=True)
        pending = await quotes.accept(quote.number, pay=True, payment_method=await gateway.tokenize(LOST))
        assert pending.payment == "pending" and (await money(pool, quote.number))["payments"] == []
        assert [c["refunded"] for c in (await money(pool, quote.number))["charges"]] == [False]
        await load_renewed_elsewhere(env, pool, "SUB-1001")
        result = await quote_result(env.client, quote.number)
        shown = await quotes.show(quote.number)
    assert result.state is QuoteState.CANCELLED and shown.cancelled_by == "system"
    assert "the payment was refunded" in shown.cancel_reason and shown.payment is None
    moved = await money(pool, quote.number)
    assert [(c["amount"], c["currency"], c["refunded"]) for c in moved["charges"]] == [
        (Decimal("9135.00"), "EUR", True)
    ]
    assert [(p["amount"], p["refunded"]) for p in moved["payments"]] == [(Decimal("9135.00"), True)]
    assert await scalar(pool, "SELECT count(*) FROM renewals") == 0


async def test_r16_one_of_two_terms_moved_after_the_charge_renews_neither_and_refunds_the_whole_total(
    env: WorkflowEnvironment, pool, settings, gateway
) -> None:
    """A quote's terms renew together or not at all: when a load moved one of them between the charge and the
    renewal, the other is not renewed for free under a refunded, cancelled quote; the audit stays clean."""
    outage = Outage()
    async with quote_stack(env, pool, settings, worker=outage.worker(env, pool, settings, gateway)) as quotes:
        quote = await quotes.create(request("SUB-1001", "SUB-1002"), send=True)
        ends = {s: (await subscription_row(pool, s))["end_date"] for s in ("SUB-1001", "SUB-1002")}
        refused = await pay_while_a_load_moves(env, pool, quotes, gateway, outage, quote.number, "SUB-1001")
        result = await quote_result(env.client, quote.number)
        other = await calendar(env.client, "SUB-1002")
        await audit(env, pool, gateway)
    assert refused.rule == "R16" and "SUB-1001 was renewed outside this system" in refused.message
    assert result.state is QuoteState.CANCELLED and result.renewed == {}
    assert await rows(pool, "SELECT * FROM renewals") == []
    row = await subscription_row(pool, "SUB-1002")
    assert (row["end_date"], row["reserved_by"], other.end_date, other.reserved_by) == (
        ends["SUB-1002"],
        None,
        ends["SUB-1002"],
        None,
    )
    # 9,135.00 (SUB-1001) + 8,208.00 (SUB-1002), all of it back.
    spent = await money(pool, quote.number)
    assert [(c["amount"], c["refunded"]) for c in spent["charges"]] == [(Decimal("17343.00"), True)]
    assert [(p["amount"], p["refunded"]) for p in spent["payments"]] == [(Decimal("17343.00"), True)]


async def test_r15_auto_renewal_records_its_amount_in_yen_without_minor_units(
    env: WorkflowEnvironment, pool, settings
) -> None:
    from domain.calendar import TermCalendar
    from tests.helpers import skip_to, start_calendars

    async with quote_stack(env, pool, settings) as quotes:
        end = (await subscription_row(pool, "SUB-3001"))["end_date"]
        await start_calendars(env, pool, settings, "SUB-3001")
        await skip_to(env, TermCalendar.of(end).renewal_due + timedelta(days=1), "SUB-3001")
        assert await quotes.find() == []
    # 10 × AutoCAD annual JPY 280,500 = 2,805,000; YEN5000 = 5,000 off → 2,800,000; no card is charged.
    (renewal,) = await rows(pool, "SELECT * FROM renewals")
    assert (renewal["source"], renewal["amount"], renewal["currency"]) == ("auto-renew", Decimal("2800000"), "JPY")
    assert renewal["amount"].as_tuple().exponent == 0
    assert await scalar(pool, "SELECT count(*) FROM fake_gateway_charges") == 0
