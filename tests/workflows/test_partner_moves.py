"""R25 partner and sales freedoms on the time-skipping server with the real worker, PostgreSQL and SMTP: a
partner's renewal in another currency that moves its subscription to a new partner is sent and paid; the
subscription then belongs to the new partner, in the new currency, at the store and at its calendar, the old
partner's other quote on it ends, and the old partner can no longer quote it. A sales new purchase that
starts later becomes a subscription from that day."""

from datetime import timedelta
from decimal import Decimal

import pytest
from temporalio.testing import WorkflowEnvironment

from domain.errors import Refused
from domain.models import QuoteKind
from domain.quote_rules import NewLine
from domain.quotes import Origin, QuoteState
from store.loader import load
from tests.helpers import audit, calendar, quote_result, quote_stack, request, subscription_row
from workers.demo_data import BIM_PARTNERS, CADPARTNERS, DE_VRIES, demo_data

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_r25_a_partner_renewal_in_yen_to_a_new_partner_is_paid_and_the_subscription_moves(
    env: WorkflowEnvironment, pool, settings, mailbox, gateway
) -> None:
    async with quote_stack(env, pool, settings, gateway=gateway) as quotes:
        old = await quotes.create(request("SUB-2002", csn=DE_VRIES, origin=Origin.PARTNER), send=True)
        moving = await quotes.create(
            request("SUB-2002", csn=DE_VRIES, origin=Origin.PARTNER, currency="JPY", new_partner_csn=BIM_PARTNERS),
            send=True,
        )
        assert (moving.currency, moving.from_currency, moving.new_partner_csn) == ("JPY", "EUR", BIM_PARTNERS)
        # Priced from the price list in yen, with the yen promotion (R11).
        assert (moving.lines[0].unit_price, moving.lines[0].promotion) == (Decimal("280500"), "YEN5000")
        assert moving.total == Decimal(12 * 280500 - 5000)
        held = await subscription_row(pool, "SUB-2002")
        # R26: the buyer's answer goes to the partner that made the quote, the new one.
        await quotes.answer(moving.number, "changes_requested", "Two more seats?")
        paid = await quotes.accept(moving.number, pay=True, reference="PSP-JPY-1")
        await quote_result(env.client, moving.number)
        ended = await quotes.show(old.number)
        row = await subscription_row(pool, "SUB-2002")
        state = await calendar(env.client, "SUB-2002")
        with pytest.raises(Refused) as refused:
            await quotes.create(request("SUB-2002", csn=DE_VRIES, origin=Origin.PARTNER, partner_csn=CADPARTNERS))
        # R18: an export made before the payment (the old partner, euros, the old end date) keeps the move.
        async with pool.connection() as conn:
            await load(conn, demo_data((await env.get_current_time()).date()))
        reloaded = await subscription_row(pool, "SUB-2002")
        await audit(env, pool, gateway)
    assert held["held_by"] == [moving.number] and held["auto_renew"] is False  # R02: a change holds auto-renew
    assert [m["To"] for m in mailbox.messages() if "wijzigingen" in m["Subject"] or "changes" in m["Subject"]] == [
        "desk@bimpartners.example"
    ]
    assert paid.state is QuoteState.PAID
    assert (row["partner_csn"], row["purchase_method"], row["currency"]) == (BIM_PARTNERS, "partner", "JPY")
    assert row["end_date"] == paid.lines[0].new_end_date and state.end_date == row["end_date"]
    assert ended.state is QuoteState.CANCELLED and ended.cancelled_by == "system"
    assert refused.value.rule == "R08"
    assert (reloaded["partner_csn"], reloaded["currency"], reloaded["end_date"]) == (
        BIM_PARTNERS,
        "JPY",
        row["end_date"],
    )


async def test_r25_a_renewal_its_calendar_refused_is_taken_back_with_its_partner_and_currency(pool) -> None:
    """The store is written before the calendar renews; a renewal the calendar refused goes back whole."""
    from datetime import date

    from store.quotes import TermToRenew, record_quote_renewals, undo_renewal

    today = date.today()
    async with pool.connection() as conn:
        await load(conn, demo_data(today))
        before = await subscription_row(pool, "SUB-2002")
        end = before["end_date"]
        term = TermToRenew("SUB-2002", end, end + timedelta(days=365), 14, "annual", BIM_PARTNERS, "JPY")
        await record_quote_renewals(conn, "Q-777777", [term])
        moved = await subscription_row(pool, "SUB-2002")
        await undo_renewal(conn, "SUB-2002", end, "Q-777777")
    back = await subscription_row(pool, "SUB-2002")
    assert (moved["partner_csn"], moved["currency"], moved["seats"]) == (BIM_PARTNERS, "JPY", 14)
    fields = ("end_date", "seats", "term", "partner_csn", "purchase_method", "currency")
    assert {k: back[k] for k in fields} == {k: before[k] for k in fields}


async def test_r25_an_unknown_new_partner_is_refused_and_nothing_is_made(
    env: WorkflowEnvironment, pool, settings, gateway
) -> None:
    async with quote_stack(env, pool, settings, gateway=gateway) as quotes:
        with pytest.raises(Refused) as refused:
            await quotes.create(request("SUB-2002", csn=DE_VRIES, origin=Origin.SALES, new_partner_csn="5299999999"))
        async with pool.connection() as conn:
            made = await (await conn.execute("SELECT count(*) AS n FROM quotes")).fetchone()
    assert refused.value.rule == "R25" and "unknown partner 5299999999" in refused.value.message
    assert made["n"] == 0


async def test_r25_a_sales_new_purchase_starting_later_becomes_a_subscription_from_that_day(
    env: WorkflowEnvironment, pool, settings, gateway
) -> None:
    async with quote_stack(env, pool, settings, gateway=gateway) as quotes:
        start = (await env.get_current_time()).date() + timedelta(days=30)
        quote = await quotes.create(
            request(
                csn=DE_VRIES,
                origin=Origin.SALES,
                kind=QuoteKind.NEW,
                currency="EUR",
                new_lines=[NewLine(product="Maya", seats=2, term="annual")],
                start_date=start,
            ),
            send=True,
        )
        await quotes.accept(quote.number, pay=True, reference="PSP-NEW-1")
        await quote_result(env.client, quote.number)
        async with pool.connection() as conn:
            cur = await conn.execute(
                "SELECT start_date, end_date FROM subscriptions WHERE csn = %s AND product = 'Maya'", (DE_VRIES,)
            )
            created = await cur.fetchone()
    assert quote.start_date == start and created["start_date"] == start
