"""R07 kinds: co-term quotes align end dates with prorated prices; new quotes buy new subscriptions."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from temporalio.testing import WorkflowEnvironment

from domain.errors import BadInput, Refused
from domain.models import Customer, Offering, PurchaseMethod, QuoteKind, Subscription
from domain.pricing import price_lines
from domain.quote_rules import NewLine, QuoteRequest, build_quote
from tests.helpers import quote_result, quote_stack, request, rows, subscription_row
from tests.unit.test_pricing import price
from workers.demo_data import ACME

NOW = datetime(2026, 11, 26, tzinfo=UTC)
CUSTOMER = Customer(csn=ACME, name="Acme BV", email="buyer@acme.example", address="Keizersgracht 1")


def sub(id: str, end: date, seats: int = 5, currency: str = "EUR", product: str = "AutoCAD") -> Subscription:
    return Subscription(
        id=id,
        csn=ACME,
        product=product,
        seats=seats,
        term="annual",
        currency=currency,
        purchase_method="direct",
        start_date=date(end.year - 1, end.month, end.day),
        end_date=end,
        auto_renew=True,
    )


def co_term(*subs: Subscription, today: date = NOW.date(), origin: str = "self-service"):
    request = QuoteRequest(csn=ACME, subscription_ids=[s.id for s in subs], kind=QuoteKind.CO_TERM, origin=origin)
    return build_quote("Q-1", request, CUSTOMER, list(subs), today, NOW)


def test_r07_co_term_prorates_per_day_eur() -> None:
    quote = co_term(sub("A", date(2027, 1, 15)), sub("B", date(2027, 4, 30), product="Revit"))
    (line,) = quote.lines
    assert (line.subscription_id, line.new_end_date, line.proration) == ("A", date(2027, 4, 30), (105, 365))
    priced = price_lines(quote.lines, [price("AutoCAD", "2030.00")], [], "EUR", QuoteKind.CO_TERM, NOW.date())
    # 5 × 2,030.00 × 105 / 365 = 2,919.863… → 2,919.86
    assert priced.lines[0].amount == Decimal("2919.86") and priced.total == Decimal("2919.86")


def test_r07_co_term_prorates_per_day_jpy() -> None:
    quote = co_term(sub("A", date(2027, 1, 15), seats=10, currency="JPY"), sub("B", date(2027, 4, 30), currency="JPY"))
    priced = price_lines(quote.lines, [price("AutoCAD", "280500", "JPY")], [], "JPY", QuoteKind.CO_TERM, NOW.date())
    # 10 × 280,500 × 105 / 365 = 806,917.8… → 806,918
    assert priced.total == Decimal("806918")


def test_r07_co_term_in_a_leap_term_counts_366_days() -> None:
    quote = co_term(sub("A", date(2027, 3, 31)), sub("B", date(2027, 6, 30)), today=date(2027, 1, 15))
    assert quote.lines[0].proration == (91, 366)


def test_r01_co_term_line_outside_its_window_refused() -> None:
    with pytest.raises(Refused) as refused:
        co_term(sub("A", date(2027, 3, 31)), sub("B", date(2027, 6, 30)))
    assert refused.value.rule == "R01" and "A cannot be renewed now: its renewal window opens 2026-12-31" in str(
        refused.value
    )


def test_r10_co_term_success_plan_refused_in_self_service() -> None:
    plan = sub("A", date(2027, 1, 15)).model_copy(update={"offering": Offering.SUCCESS_PLAN})
    with pytest.raises(Refused) as refused:
        co_term(plan, sub("B", date(2027, 4, 30)))
    assert refused.value.rule == "R10"
    assert co_term(plan, sub("B", date(2027, 4, 30)), origin="sales").lines[0].subscription_id == "A"


def test_r07_co_term_refuses_other_currency() -> None:
    with pytest.raises(Refused) as refused:
        co_term(sub("A", date(2027, 1, 15)), sub("B", date(2027, 4, 30), currency="JPY"))
    assert refused.value.rule == "R09"


def test_r07_new_purchase_lines_do_not_mix_with_co_term() -> None:
    request = QuoteRequest(
        csn=ACME,
        subscription_ids=["A", "B"],
        kind=QuoteKind.CO_TERM,
        new_lines=[NewLine(product="Maya", seats=1, term="annual")],
    )
    with pytest.raises(Refused) as refused:
        build_quote(
            "Q-1", request, CUSTOMER, [sub("A", date(2027, 1, 15)), sub("B", date(2027, 4, 30))], NOW.date(), NOW
        )
    assert refused.value.rule == "R07"


def test_r07_new_purchase_lines_do_not_mix_with_renewal() -> None:
    request = QuoteRequest(
        csn=ACME, subscription_ids=["A"], new_lines=[NewLine(product="Maya", seats=1, term="annual")]
    )
    with pytest.raises(Refused) as refused:
        build_quote("Q-1", request, CUSTOMER, [sub("A", date(2027, 1, 15))], NOW.date(), NOW)
    assert refused.value.rule == "R07"


@pytest.mark.asyncio(loop_scope="session")
async def test_r07_co_term_paid_aligns_end_dates(env: WorkflowEnvironment, pool, settings) -> None:
    async with quote_stack(env, pool, settings) as quotes:
        target = (await subscription_row(pool, "SUB-1002"))["end_date"]
        quote = await quotes.create(request("SUB-1001", "SUB-1002", kind="co-term"), send=True)
        assert [line.subscription_id for line in quote.lines] == ["SUB-1001"]
        assert (await subscription_row(pool, "SUB-1001"))["held_by"] == [quote.number]
        await quotes.accept(quote.number, pay=True)
        await quote_result(env.client, quote.number)
    row = await subscription_row(pool, "SUB-1001")
    assert (row["end_date"], row["seats"], row["auto_renew"]) == (target, 5, True)
    (renewal,) = await rows(pool, "SELECT * FROM renewals")
    assert (renewal["to_end_date"], renewal["quote_number"]) == (target, quote.number)


@pytest.mark.asyncio(loop_scope="session")
async def test_new_purchase_quote_creates_subscription_when_paid(env: WorkflowEnvironment, pool, settings) -> None:
    async with quote_stack(env, pool, settings) as quotes:
        quote = await quotes.create(
            QuoteRequest(
                csn=ACME,
                kind=QuoteKind.NEW,
                currency="EUR",
                new_lines=[NewLine(product="Maya", seats=2, term="annual")],
            ),
            send=True,
        )
        # 2 × EUR 1,932.00 = 3,864.00; MAYANEW (new purchases) 25% = 966.00
        assert (quote.total, quote.lines[0].promotion) == (Decimal("2898.00"), "MAYANEW")
        await quotes.accept(quote.number, pay=True)
        result = await quote_result(env.client, quote.number)
        (sub_id,) = result.renewed
        row = await subscription_row(pool, sub_id)
        assert (row["product"], row["seats"], row["csn"], row["auto_renew"]) == ("Maya", 2, ACME, True)
        assert (row["end_date"] - row["start_date"]).days in (364, 365)
        handle = env.client.get_workflow_handle(f"subscription-{sub_id}")
        assert (await handle.describe()).status.name == "RUNNING"


def test_r08_partner_new_purchase_names_and_keeps_its_partner() -> None:
    new = dict(
        csn=ACME,
        kind=QuoteKind.NEW,
        currency="EUR",
        origin="partner",
        new_lines=[NewLine(product="Maya", seats=1, term="annual")],
    )
    with pytest.raises(BadInput) as missing:
        build_quote("Q-1", QuoteRequest(**new), CUSTOMER, [], NOW.date(), NOW)
    assert "--partner" in missing.value.message
    quote = build_quote("Q-1", QuoteRequest(**new, partner_csn="5200000001"), CUSTOMER, [], NOW.date(), NOW)
    assert (quote.purchase_method, quote.partner_csn) == (PurchaseMethod.PARTNER, "5200000001")


@pytest.mark.asyncio(loop_scope="session")
async def test_r08_paid_partner_new_purchase_is_a_partner_subscription(
    env: WorkflowEnvironment, pool, settings
) -> None:
    async with quote_stack(env, pool, settings) as quotes:
        quote = await quotes.create(
            QuoteRequest(
                csn=ACME,
                kind=QuoteKind.NEW,
                currency="EUR",
                origin="partner",
                partner_csn="5200000001",
                new_lines=[NewLine(product="Maya", seats=1, term="annual")],
            ),
            send=True,
        )
        await quotes.accept(quote.number, pay=True, reference="BANK-1")
        (sub_id,) = (await quote_result(env.client, quote.number)).renewed
        row = await subscription_row(pool, sub_id)
    assert (row["purchase_method"], row["partner_csn"]) == ("partner", "5200000001")
