"""R02 and R03 through SubscriptionWorkflow: held while a changing quote is pending, restored after."""

from datetime import timedelta

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.helpers import quote_result, quote_stack, request, skip, subscription_row

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_r02_quote_changing_seats_holds_auto_renew(env: WorkflowEnvironment, pool, settings) -> None:
    async with quote_stack(env, pool, settings) as quotes:
        quote = await quotes.create(request("SUB-1001", seats={"SUB-1001": 3}))
        row = await subscription_row(pool, "SUB-1001")
        assert (row["auto_renew"], row["held_by"]) == (False, [quote.number])


async def test_r02_quote_changing_term_holds_auto_renew(env: WorkflowEnvironment, pool, settings) -> None:
    async with quote_stack(env, pool, settings) as quotes:
        quote = await quotes.create(request("SUB-1001", terms={"SUB-1001": "3-year"}))
        assert (await subscription_row(pool, "SUB-1001"))["held_by"] == [quote.number]


async def test_r02_requested_pause_holds_unchanged_quote(env: WorkflowEnvironment, pool, settings) -> None:
    async with quote_stack(env, pool, settings) as quotes:
        quote = await quotes.create(request("SUB-1001", pause_auto_renew=True))
        row = await subscription_row(pool, "SUB-1001")
        assert (row["auto_renew"], row["held_by"]) == (False, [quote.number])


async def test_r02_unchanged_quote_does_not_hold(env: WorkflowEnvironment, pool, settings) -> None:
    async with quote_stack(env, pool, settings) as quotes:
        await quotes.create(request("SUB-1001"), send=True)
        row = await subscription_row(pool, "SUB-1001")
        assert (row["auto_renew"], row["held_by"]) == (True, [])


async def test_r03_paid_returns_auto_renew_to_its_value_before_the_hold_and_renews_for_new_term(
    env: WorkflowEnvironment, pool, settings
) -> None:
    """R03 (amended): paying a changed quote never switches on auto-renew the buyer had off."""
    async with quote_stack(env, pool, settings) as quotes:
        before = await subscription_row(pool, "SUB-1002")
        assert before["auto_renew"] is False
        quote = await quotes.create(request("SUB-1002", seats={"SUB-1002": 2}, terms={"SUB-1002": "3-year"}), send=True)
        assert (await subscription_row(pool, "SUB-1002"))["held_by"] == [quote.number]
        await quotes.accept(quote.number, pay=True)
        await quote_result(env.client, quote.number)
    after = await subscription_row(pool, "SUB-1002")
    assert (after["auto_renew"], after["held_by"], after["seats"], after["term"]) == (False, [], 2, "3-year")
    assert after["end_date"] == before["end_date"].replace(year=before["end_date"].year + 3)


async def test_r03_paid_changed_quote_turns_auto_renew_back_on_as_it_was_before_the_hold(
    env: WorkflowEnvironment, pool, settings
) -> None:
    async with quote_stack(env, pool, settings) as quotes:
        quote = await quotes.create(request("SUB-1001", seats={"SUB-1001": 4}), send=True)
        assert (await subscription_row(pool, "SUB-1001"))["auto_renew"] is False  # held (R02)
        await quotes.accept(quote.number, pay=True)
        await quote_result(env.client, quote.number)
    after = await subscription_row(pool, "SUB-1001")
    assert (after["auto_renew"], after["held_by"], after["seats"]) == (True, [], 4)


async def test_r03_paid_auto_quote_leaves_auto_renew_off(env: WorkflowEnvironment, pool, settings) -> None:
    """An R12 auto quote goes to a subscription whose auto-renew is off; paying it never signs the buyer up
    for automatic charging (it held nothing; accepted and paid at once)."""
    async with quote_stack(env, pool, settings) as quotes:
        quote = await quotes.create(request("SUB-1002"), send=True)
        assert (await subscription_row(pool, "SUB-1002"))["held_by"] == []
        await quotes.accept(quote.number, pay=True)
        await quote_result(env.client, quote.number)
    after = await subscription_row(pool, "SUB-1002")
    assert (after["auto_renew"], after["held_by"]) == (False, [])


async def test_r03_expired_restores_previous_value(env: WorkflowEnvironment, pool, settings) -> None:
    async with quote_stack(env, pool, settings) as quotes:
        on = await quotes.create(request("SUB-1001", seats={"SUB-1001": 4}), send=True)
        off = await quotes.create(request("SUB-1002", seats={"SUB-1002": 2}), send=True)
        await skip(env, off.number, timedelta(days=31))
        await quote_result(env.client, on.number)
        await quote_result(env.client, off.number)
        assert (await subscription_row(pool, "SUB-1001"))["auto_renew"] is True
        assert (await subscription_row(pool, "SUB-1002"))["auto_renew"] is False
        assert (await subscription_row(pool, "SUB-1001"))["held_by"] == []


async def test_r03_cancelled_restores_previous_value(env: WorkflowEnvironment, pool, settings) -> None:
    async with quote_stack(env, pool, settings) as quotes:
        quote = await quotes.create(request("SUB-1001", pause_auto_renew=True), send=True)
        await quotes.cancel(quote.number, "partner")
        await quote_result(env.client, quote.number)
        row = await subscription_row(pool, "SUB-1001")
        assert (row["auto_renew"], row["held_by"]) == (True, [])


async def test_r03_two_pending_quotes_hold_until_both_end(env: WorkflowEnvironment, pool, settings) -> None:
    async with quote_stack(env, pool, settings) as quotes:
        first = await quotes.create(request("SUB-1001", seats={"SUB-1001": 4}))
        second = await quotes.create(request("SUB-1001", terms={"SUB-1001": "3-year"}))
        assert (await subscription_row(pool, "SUB-1001"))["held_by"] == sorted([first.number, second.number])
        await quotes.cancel(first.number, "sales")
        await quote_result(env.client, first.number)
        row = await subscription_row(pool, "SUB-1001")
        assert (row["auto_renew"], row["held_by"]) == (False, [second.number])
        await quotes.cancel(second.number, "sales")
        await quote_result(env.client, second.number)
        row = await subscription_row(pool, "SUB-1001")
        assert (row["auto_renew"], row["held_by"]) == (True, [])
