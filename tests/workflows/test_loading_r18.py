"""R18: a load never undoes what the system did; a later end date from the source is adopted."""

from datetime import date, timedelta

import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from domain.calendar import TermCalendar
from domain.errors import Refused
from domain.models import Subscription
from domain.quotes import QuoteState, subscription_workflow_id
from domain.source_data import merge_from_source
from store.loader import load
from tests.helpers import (
    calendar,
    quote_result,
    quote_stack,
    renewed_elsewhere,
    request,
    rows,
    scalar,
    skip_to,
    subscription_row,
    subscriptions,
)
from workers.demo_data import demo_data

DAY = timedelta(days=1)
STORED = Subscription(
    id="SUB-1",
    csn="5100000001",
    product="AutoCAD",
    seats=3,
    term="3-year",
    currency="EUR",
    purchase_method="direct",
    start_date=date(2025, 1, 1),
    end_date=date(2029, 12, 31),
    auto_renew=False,
)
STALE = STORED.model_copy(
    update={"seats": 5, "term": "annual", "end_date": date(2026, 12, 31), "auto_renew": True, "product": "AutoCAD LT"}
)


def test_r18_stale_export_keeps_term_seats_end_date_and_switch_takes_the_rest() -> None:
    merged = merge_from_source(STORED, STALE, held=False, renewed_by="renewed by Q-000001 on 2026-11-26")
    sub = merged.subscription
    assert (sub.end_date, sub.seats, sub.term, sub.auto_renew) == (STORED.end_date, 3, STORED.term, False)
    assert sub.product == "AutoCAD LT"
    assert merged.kept == (
        "the file ends it 2026-12-31, but it runs until 2029-12-31 "
        "(renewed by Q-000001 on 2026-11-26); kept the stored term"
    )
    assert not merged.renewed_elsewhere


def test_r18_later_end_date_is_adopted_as_renewed_elsewhere() -> None:
    later = STORED.model_copy(update={"end_date": date(2030, 12, 31), "seats": 7})
    merged = merge_from_source(STORED, later, held=False)
    assert (merged.subscription, merged.kept, merged.renewed_elsewhere) == (later, None, True)


def test_r18_switch_kept_while_a_quote_holds_it() -> None:
    flipped = STORED.model_copy(update={"auto_renew": True})
    assert merge_from_source(STORED, flipped, held=True).subscription.auto_renew is False
    assert merge_from_source(STORED, flipped, held=False).subscription.auto_renew is True


def test_r18_same_row_changes_nothing() -> None:
    assert merge_from_source(STORED, STORED, held=True) == merge_from_source(None, STORED, held=False)


@pytest.mark.asyncio(loop_scope="session")
async def test_r18_stale_reload_after_a_renewal_keeps_it_and_never_lapses(
    env: WorkflowEnvironment, pool, settings
) -> None:
    async with quote_stack(env, pool, settings) as quotes:
        data = demo_data((await env.get_current_time()).date())
        # An export made before the quote, when its holder had auto-renew off: paid, the quote turns it on (R03).
        data = data.model_copy(
            update={
                "subscriptions": [
                    s.model_copy(update={"auto_renew": False}) if s.id == "SUB-1001" else s for s in data.subscriptions
                ]
            }
        )
        end = (await subscription_row(pool, "SUB-1001"))["end_date"]
        await subscriptions(env, pool, settings).sync()
        quote = await quotes.create(request("SUB-1001", seats={"SUB-1001": 3}), send=True)
        await quotes.accept(quote.number, pay=True, reference="BANK-1")
        await quote_result(env.client, quote.number)
        renewed = end.replace(year=end.year + 1)

        for _ in range(2):
            async with pool.connection() as conn:
                result = await load(conn, data)
            assert result.counts["subscriptions"]["changed"] == 0
            assert [(k.id, k.reason) for k in result.kept] == [
                (
                    "SUB-1001",
                    f"the file ends it {end.isoformat()}, but it runs until {renewed.isoformat()} "
                    f"(renewed by {quote.number} on {(await env.get_current_time()).date().isoformat()}); "
                    "kept the stored term",
                )
            ]
            assert await subscriptions(env, pool, settings).sync() == 0
        row = await subscription_row(pool, "SUB-1001")
        assert (row["end_date"], row["seats"], row["auto_renew"]) == (renewed, 3, True)
        assert (await calendar(env.client, "SUB-1001")).end_date == renewed
        with pytest.raises(Refused) as refused:
            await quotes.create(request("SUB-1001"))
        assert refused.value.rule == "R01"
        await skip_to(env, TermCalendar.of(end).window_closes + DAY, "SUB-1001")
        row = await subscription_row(pool, "SUB-1001")
        assert (row["end_date"], row["lapsed_on"]) == (renewed, None)
    assert await scalar(pool, "SELECT count(*) FROM renewals WHERE subscription_id = 'SUB-1001'") == 1


@pytest.mark.asyncio(loop_scope="session")
async def test_r18_term_renewed_elsewhere_supersedes_the_pending_quote(
    env: WorkflowEnvironment, pool, settings
) -> None:
    async with quote_stack(env, pool, settings) as quotes:
        data = demo_data((await env.get_current_time()).date())
        end = (await subscription_row(pool, "SUB-1001"))["end_date"]
        await subscriptions(env, pool, settings).sync()
        quote = await quotes.create(request("SUB-1001", seats={"SUB-1001": 4}), send=True)
        later = end.replace(year=end.year + 1)
        elsewhere = renewed_elsewhere(data, "SUB-1001", later)
        async with pool.connection() as conn:
            result = await load(conn, elsewhere)
        assert (result.changed_subscriptions, result.kept) == (["SUB-1001"], [])
        assert await subscriptions(env, pool, settings).sync() == 1
        ended = await quote_result(env.client, quote.number)
        shown = await quotes.show(quote.number)
        assert ended.state is QuoteState.CANCELLED
        assert shown.cancel_reason == "superseded: renewed outside this system"
        with pytest.raises(Refused) as refused:
            await quotes.accept(quote.number, pay=True, reference="BANK-1")
        assert refused.value.rule == "R16" and "renewed outside this system" in refused.value.message
        state = await calendar(env.client, "SUB-1001")
        assert (state.end_date, state.held_by, state.auto_renew) == (later, [], True)
        assert (await subscription_row(pool, "SUB-1001"))["held_by"] == []
    assert await rows(pool, "SELECT * FROM renewals") == []
    assert await scalar(pool, "SELECT count(*) FROM payments") == 0


@pytest.mark.asyncio(loop_scope="session")
async def test_r18_lapsed_term_kept_by_stale_files_then_reopened_by_a_later_end_date(
    env: WorkflowEnvironment, pool, settings
) -> None:
    """SUB-1007 lapses at its window close. The same file again, and an older export, keep it lapsed (never
    renewed, never lapsed twice); a file that says it was renewed elsewhere reopens it for the new term."""
    async with quote_stack(env, pool, settings) as quotes:
        data = demo_data((await env.get_current_time()).date())
        end = (await subscription_row(pool, "SUB-1007"))["end_date"]
        await subscriptions(env, pool, settings).sync(["SUB-1007"])
        await skip_to(env, TermCalendar.of(end).window_closes + DAY, "SUB-1007")
        assert (await subscription_row(pool, "SUB-1007"))["lapsed_on"] == end

        def with_end(day: date):
            subs = [s.model_copy(update={"end_date": day}) if s.id == "SUB-1007" else s for s in data.subscriptions]
            return data.model_copy(update={"subscriptions": subs})

        for stale in (data, with_end(end - timedelta(days=365))):
            async with pool.connection() as conn:
                result = await load(conn, stale)
            assert "SUB-1007" not in result.changed_subscriptions
            await subscriptions(env, pool, settings).sync(["SUB-1007"])
            row = await subscription_row(pool, "SUB-1007")
            assert (row["end_date"], row["lapsed_on"]) == (end, end)
            ended = env.client.get_workflow_handle(subscription_workflow_id("SUB-1007"))
            assert (await ended.describe()).status == WorkflowExecutionStatus.COMPLETED
        later = end.replace(year=end.year + 1)
        async with pool.connection() as conn:
            result = await load(conn, with_end(later))
        assert result.changed_subscriptions == ["SUB-1007"]
        assert await subscriptions(env, pool, settings).sync(["SUB-1007"]) == 1
        row = await subscription_row(pool, "SUB-1007")
        state = await calendar(env.client, "SUB-1007")
        with pytest.raises(Refused) as refused:
            await quotes.create(request("SUB-1007", origin="sales"))
    assert (row["end_date"], row["lapsed_on"]) == (later, None)
    assert (state.end_date, state.auto_renew) == (later, False)
    assert refused.value.rule == "R01" and f"opens {(later - timedelta(days=90)).isoformat()}" in refused.value.message
    assert await rows(pool, "SELECT * FROM renewals") == []
