"""The renewal calendar on the time-skipping server, walking whole years (R01, R02, R03, R12)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from temporalio.testing import WorkflowEnvironment

from domain.calendar import TermCalendar
from domain.errors import Refused
from domain.models import DataFile
from domain.quotes import Origin, QuoteState
from payments.fake import FakeGateway
from tests.helpers import (
    calendar,
    next_run,
    quote_result,
    quote_stack,
    request,
    rows,
    scalar,
    settled,
    skip_to,
    start_calendars,
    step_failures,
    subscription_row,
    subscriptions,
)

pytestmark = pytest.mark.asyncio(loop_scope="session")
DAY = timedelta(days=1)


async def test_r03_auto_renews_three_terms_in_a_row(env: WorkflowEnvironment, pool, settings, mailbox) -> None:
    async with quote_stack(env, pool, settings):
        first_end = (await subscription_row(pool, "SUB-1001"))["end_date"]
        await start_calendars(env, pool, settings, "SUB-1001")
        end = first_end
        for _ in range(3):
            await skip_to(env, TermCalendar.of(end).renewal_due + DAY, "SUB-1001")
            end = end.replace(year=end.year + 1)
            assert (await calendar(env.client, "SUB-1001")).end_date == end
    renewals = await rows(pool, "SELECT * FROM renewals WHERE subscription_id = 'SUB-1001' ORDER BY from_end_date")
    assert [(r["from_end_date"].year, r["source"], r["seats"]) for r in renewals] == [
        (first_end.year + i, "auto-renew", 5) for i in range(3)
    ]
    # 5 × EUR 2,030.00 = 10,150.00 less RENEW10 (10%) while it runs (until day 200); then the full price
    assert [(r["amount"], r["currency"]) for r in renewals] == [
        (Decimal("9135.00"), "EUR"),
        (Decimal("10150.00"), "EUR"),
        (Decimal("10150.00"), "EUR"),
    ]
    assert (await subscription_row(pool, "SUB-1001"))["end_date"] == end
    assert len([m for m in mailbox.messages() if m["Subject"].startswith("Renewed:")]) == 3


async def test_r02_held_across_end_date_then_paid_renews_once_by_quote(
    env: WorkflowEnvironment, pool, settings
) -> None:
    async with quote_stack(env, pool, settings) as quotes:
        end = (await subscription_row(pool, "SUB-1001"))["end_date"]
        await start_calendars(env, pool, settings, "SUB-1001")
        quote = await quotes.create(request("SUB-1001", seats={"SUB-1001": 3}), send=True)
        await settled(env.client, quote.number)
        await skip_to(env, TermCalendar.of(end).renewal_due + 5 * DAY, "SUB-1001")
        assert await scalar(pool, "SELECT count(*) FROM renewals") == 0
        await quotes.accept(quote.number, pay=True)
        await quote_result(env.client, quote.number)
        await skip_to(env, TermCalendar.of(end).renewal_due + 40 * DAY, "SUB-1001")
    renewals = await rows(pool, "SELECT * FROM renewals")
    assert [(r["source"], r["quote_number"], r["seats"]) for r in renewals] == [("quote", quote.number, 3)]
    row = await subscription_row(pool, "SUB-1001")
    assert (row["end_date"], row["auto_renew"]) == (end.replace(year=end.year + 1), True)


async def test_r03_held_quote_expires_after_end_date_then_auto_renews_once(
    env: WorkflowEnvironment, pool, settings
) -> None:
    async with quote_stack(env, pool, settings) as quotes:
        end = (await subscription_row(pool, "SUB-1001"))["end_date"]
        await start_calendars(env, pool, settings, "SUB-1001")
        quote = await quotes.create(request("SUB-1001", seats={"SUB-1001": 3}), send=True)
        await settled(env.client, quote.number)
        await skip_to(env, TermCalendar.of(end).renewal_due + 2 * DAY, "SUB-1001")
        assert await scalar(pool, "SELECT count(*) FROM renewals") == 0
        await skip_to(env, quote.expires_at + DAY, "SUB-1001")
        assert (await quote_result(env.client, quote.number)).state is QuoteState.EXPIRED
        await skip_to(env, TermCalendar.of(end).window_closes + DAY, "SUB-1001")
    renewals = await rows(pool, "SELECT * FROM renewals")
    assert [(r["source"], r["seats"], r["from_end_date"]) for r in renewals] == [("auto-renew", 5, end)]


async def test_r17_accepted_quote_paid_at_the_end_date_instant_renews_once_by_quote(
    env: WorkflowEnvironment, pool, settings, gateway
) -> None:
    async with quote_stack(env, pool, settings, gateway=gateway) as quotes:
        end = (await subscription_row(pool, "SUB-1001"))["end_date"]
        await start_calendars(env, pool, settings, "SUB-1001")
        quote = await quotes.create(request("SUB-1001"), send=True)
        await quotes.accept(quote.number)
        await settled(env.client, quote.number)
        # One second past the end date's midnight: the time-skipping test server can keep an update that
        # lands in the very millisecond its timer fires from ever being taken (its task restarts every
        # attempt); the dev and production servers take it.
        await skip_to(env, TermCalendar.of(end).renewal_due + timedelta(seconds=1), "SUB-1001")
        paid = await quotes.pay(quote.number, "BANK-1")
        result = await quote_result(env.client, quote.number)
        await skip_to(env, TermCalendar.of(end).renewal_due + 10 * DAY, "SUB-1001")
    renewals = await rows(pool, "SELECT * FROM renewals WHERE from_end_date = %s", end)
    assert [(r["source"], r["quote_number"]) for r in renewals] == [("quote", quote.number)]
    assert paid.state is QuoteState.PAID
    assert result.renewed == {"SUB-1001": renewals[0]["to_end_date"].isoformat()}
    assert await scalar(pool, "SELECT count(*) FROM payments") == 1
    assert (await subscription_row(pool, "SUB-1001"))["end_date"] == end.replace(year=end.year + 1)


async def test_r12_auto_quote_sent_once_and_accepted(env: WorkflowEnvironment, pool, settings, mailbox) -> None:
    async with quote_stack(env, pool, settings) as quotes:
        end = (await subscription_row(pool, "SUB-1002"))["end_date"]
        await start_calendars(env, pool, settings, "SUB-1002")
        await skip_to(env, TermCalendar.of(end).auto_quote + DAY, "SUB-1002")
        (auto,) = await rows(pool, "SELECT * FROM auto_quotes")
        number = auto["quote_number"]
        await settled(env.client, number)
        # The timer fires again: a new calendar run for the same term asks for the auto quote once more.
        await env.client.get_workflow_handle("subscription-SUB-1002").terminate("fire the timer twice")
        await start_calendars(env, pool, settings, "SUB-1002")
        await skip_to(env, TermCalendar.of(end).auto_quote + 2 * DAY, "SUB-1002")
        assert await scalar(pool, "SELECT count(*) FROM quotes") == 1
        assert await scalar(pool, "SELECT count(*) FROM auto_quotes") == 1
        quote = await quotes.show(number)
        assert (quote.origin, quote.state) == (Origin.AUTO, QuoteState.SENT)
        assert [m["Subject"].split(":")[0] for m in mailbox.messages()] == [f"Renewal quote {number}"]
        listed = await quotes.find(state="sent")
        assert [q.number for q in listed] == [number]
        await quotes.accept(number, pay=True)
        await quote_result(env.client, number)
    assert (await subscription_row(pool, "SUB-1002"))["end_date"] == end.replace(year=end.year + 1)


def auto_renew_off(*sub_ids: str):
    def change(data: DataFile) -> DataFile:
        subs = [s.model_copy(update={"auto_renew": False}) if s.id in sub_ids else s for s in data.subscriptions]
        return data.model_copy(update={"subscriptions": subs})

    return change


async def test_r12_auto_quote_only_for_annual_or_3_year_direct_standard_with_auto_renew_off(
    env: WorkflowEnvironment, pool, settings, mailbox
) -> None:
    """Each condition R12 names, one subscription failing it: monthly (SUB-1003), bought through a partner
    (SUB-1008), a success plan (SUB-1006), auto-renew on (SUB-1001); only the 3-year direct subscription with
    auto-renew off (SUB-3002) gets a quote, and only its buyer gets an email."""
    watched = ("SUB-1001", "SUB-1003", "SUB-1006", "SUB-1008", "SUB-3002")
    async with quote_stack(env, pool, settings, data=auto_renew_off("SUB-1003", "SUB-1006", "SUB-1008")) as quotes:
        end = (await subscription_row(pool, "SUB-3002"))["end_date"]
        await start_calendars(env, pool, settings, *watched)
        await skip_to(env, TermCalendar.of(end).auto_quote + DAY, *watched)
        (auto,) = await rows(pool, "SELECT * FROM auto_quotes")
        await settled(env.client, auto["quote_number"])
        quote = await quotes.show(auto["quote_number"])
    assert (auto["subscription_id"], auto["term_end"]) == ("SUB-3002", end)
    assert await scalar(pool, "SELECT count(*) FROM quotes") == 1
    assert (quote.origin, quote.state, [(line.subscription_id, line.term) for line in quote.lines]) == (
        Origin.AUTO,
        QuoteState.SENT,
        [("SUB-3002", "3-year")],
    )
    # 2 × Maya 3-year JPY 708,000; no renewal promotion for Maya.
    assert (quote.total, quote.currency) == (Decimal("1416000"), "JPY")
    offered = [(m["To"], m["Subject"].split(",")[0]) for m in mailbox.messages() if "quote" in m["Subject"]]
    assert offered == [("kobai@sakura.example", f"Renewal quote {quote.number}: JPY 1")]


async def test_r12_no_auto_quote_while_another_quote_is_pending(
    env: WorkflowEnvironment, pool, settings, mailbox
) -> None:
    async with quote_stack(env, pool, settings) as quotes:
        end = (await subscription_row(pool, "SUB-1002"))["end_date"]  # annual, direct, auto-renew off
        await start_calendars(env, pool, settings, "SUB-1002")
        pending = await quotes.create(request("SUB-1002"), send=True)
        await settled(env.client, pending.number)
        await skip_to(env, TermCalendar.of(end).auto_quote + DAY, "SUB-1002")
        assert (await quotes.show(pending.number)).state is QuoteState.SENT
    assert await scalar(pool, "SELECT count(*) FROM auto_quotes") == 0
    assert await scalar(pool, "SELECT count(*) FROM quotes") == 1
    assert [m["Subject"].split(":")[0] for m in mailbox.messages()] == [f"Renewal quote {pending.number}"]


async def test_r01_window_closes_without_renewal_lapsed(env: WorkflowEnvironment, pool, settings) -> None:
    async with quote_stack(env, pool, settings):
        end = (await subscription_row(pool, "SUB-1007"))["end_date"]
        await start_calendars(env, pool, settings, "SUB-1007", "SUB-1005")
        lapsed = await env.client.get_workflow_handle("subscription-SUB-1005").result()
        assert lapsed["subscription_id"] == "SUB-1005"
        assert (await subscription_row(pool, "SUB-1005"))["lapsed_on"] is not None
        assert (await subscription_row(pool, "SUB-1007"))["lapsed_on"] is None
        await skip_to(env, TermCalendar.of(end).window_closes + DAY, "SUB-1007")
        row = await subscription_row(pool, "SUB-1007")
        assert (row["lapsed_on"], row["end_date"]) == (end, end)
        assert await scalar(pool, "SELECT count(*) FROM renewals") == 0


async def test_r02_auto_renew_switch_refused_while_held(env: WorkflowEnvironment, pool, settings) -> None:
    async with quote_stack(env, pool, settings) as quotes:
        state = await subscriptions(env, pool, settings).set_auto_renew("SUB-1001", False)
        assert (state.auto_renew, (await subscription_row(pool, "SUB-1001"))["auto_renew"]) == (False, False)
        await subscriptions(env, pool, settings).set_auto_renew("SUB-1001", True)
        quote = await quotes.create(request("SUB-1001", pause_auto_renew=True))
        with pytest.raises(Refused) as refused:
            await subscriptions(env, pool, settings).set_auto_renew("SUB-1001", True)
        assert refused.value.rule == "R02" and quote.number in refused.value.message
        assert (await subscription_row(pool, "SUB-1001"))["held_by"] == [quote.number]


async def test_load_starts_each_calendar_once_and_tells_changes(env: WorkflowEnvironment, pool, settings) -> None:
    from store.loader import load
    from workers.demo_data import demo_data

    async with quote_stack(env, pool, settings):
        data = demo_data((await env.get_current_time()).date())
        ids = [s.id for s in data.subscriptions]
        async with pool.connection() as conn:
            again = await load(conn, data)
        assert again.changed_subscriptions == []
        assert await subscriptions(env, pool, settings).sync() == len(ids)
        await env.client.get_workflow_handle("subscription-SUB-1005").result()
        runs = {i: (await env.client.get_workflow_handle(f"subscription-{i}").describe()).run_id for i in ids}

        assert await subscriptions(env, pool, settings).sync() == 0
        assert {i: (await env.client.get_workflow_handle(f"subscription-{i}").describe()).run_id for i in ids} == runs

        changed = data.model_copy(
            update={
                "subscriptions": [
                    s.model_copy(update={"end_date": s.end_date - DAY * 7, "auto_renew": False})
                    if s.id == "SUB-1001"
                    else s
                    for s in data.subscriptions
                ]
            }
        )
        async with pool.connection() as conn:
            result = await load(conn, changed)
        assert result.changed_subscriptions == ["SUB-1001"]
        # R18: an earlier end date is a stale export: the term is kept; nothing renewed it here, so the
        # source's switch is adopted.
        assert [k.id for k in result.kept] == ["SUB-1001"]
        assert await subscriptions(env, pool, settings).sync() == 1
        state = await calendar(env.client, "SUB-1001")
        sub = next(s for s in data.subscriptions if s.id == "SUB-1001")
        assert (state.end_date, state.auto_renew) == (sub.end_date, False)
        assert "auto-renew" in state.next_event or "auto quote" in state.next_event
        assert await subscriptions(env, pool, settings).sync() == 0


async def test_r18_a_failed_sync_is_retried_by_the_next_load(env: WorkflowEnvironment, pool, settings) -> None:
    from store.loader import load
    from workers.demo_data import demo_data

    async with quote_stack(env, pool, settings):
        await subscriptions(env, pool, settings).sync()
        data = demo_data((await env.get_current_time()).date())
        changed = data.model_copy(
            update={
                "subscriptions": [
                    s.model_copy(update={"auto_renew": False}) if s.id == "SUB-1001" else s for s in data.subscriptions
                ]
            }
        )
        async with pool.connection() as conn:
            await load(conn, changed)
        # The load's store write landed, but its sync never reached Temporal (a crash, the server down).
        async with pool.connection() as conn:
            again = await load(conn, changed)
        assert again.changed_subscriptions == []
        assert (await calendar(env.client, "SUB-1001")).auto_renew is True
        assert await subscriptions(env, pool, settings).sync() == 1
        assert (await calendar(env.client, "SUB-1001")).auto_renew is False


async def test_r16_missing_price_at_auto_renew_claims_nothing_and_a_quote_still_renews(
    env: WorkflowEnvironment, pool, settings
) -> None:
    from services.ops import OpsService

    async with quote_stack(env, pool, settings) as quotes:
        end = (await subscription_row(pool, "SUB-1001"))["end_date"]
        await start_calendars(env, pool, settings, "SUB-1001")
        quote = await quotes.create(request("SUB-1001"), send=True)
        await settled(env.client, quote.number)
        async with pool.connection() as conn:
            await conn.execute("DELETE FROM prices WHERE product = 'AutoCAD' AND term = 'annual'")
        await skip_to(env, TermCalendar.of(end).renewal_due + DAY, "SUB-1001")
        state = await calendar(env.client, "SUB-1001")
        assert state.auto_renew_error == "cannot auto-renew SUB-1001: no price for AutoCAD annual in EUR"
        metadata = await env.client.get_workflow_handle("subscription-SUB-1001").query("__temporal_workflow_metadata")
        assert "auto-renew failed: cannot auto-renew SUB-1001: no price" in metadata.current_details
        assert (state.end_date, state.reserved_by) == (end, None)
        assert await scalar(pool, "SELECT count(*) FROM renewals") == 0
        history = await env.client.get_workflow_handle("subscription-SUB-1001").fetch_history()
        failed = step_failures(history)
        assert [f.application_failure_info.type for f in failed] == ["MissingPrice"]
        stuck = await OpsService(env.client, pool, FakeGateway(pool)).failed_auto_renewals()
        assert [(s.workflow_id, s.reason) for s in stuck] == [("subscription-SUB-1001", "auto-renew failed")]
        assert "no price for AutoCAD annual in EUR" in stuck[0].detail
        assert (await quotes.show(quote.number)).state is QuoteState.SENT
        paid = await quotes.accept(quote.number, pay=True, reference="BANK-2")
        assert paid.state is QuoteState.PAID
        await quote_result(env.client, quote.number)
    renewals = await rows(pool, "SELECT * FROM renewals")
    assert [(r["source"], r["quote_number"]) for r in renewals] == [("quote", quote.number)]


async def test_r16_claim_racing_the_window_close(env: WorkflowEnvironment, pool, settings) -> None:
    from temporalio.testing import ActivityEnvironment

    from activities.subscriptions import SubscriptionActivities, TermRef, TermsInput
    from contracts.subscription import RenewTermInput, TermInput
    from workflows.subscription import SubscriptionWorkflow

    async with quote_stack(env, pool, settings):
        end = (await subscription_row(pool, "SUB-1007"))["end_date"]
        closes = TermCalendar.of(end).window_closes
        await start_calendars(env, pool, settings, "SUB-1007", "SUB-1002")
        handle = env.client.get_workflow_handle("subscription-SUB-1007")
        await skip_to(env, closes - timedelta(seconds=1), "SUB-1007")
        granted = await handle.execute_update(SubscriptionWorkflow.reserve, TermInput(holder="Q-1", term_end=end))
        assert granted.granted
        await skip_to(env, closes + DAY, "SUB-1007")
        # The window closed while the term was reserved: lapse waits for the payment in progress.
        assert (await subscription_row(pool, "SUB-1007"))["lapsed_on"] is None
        late = await handle.execute_update(SubscriptionWorkflow.reserve, TermInput(holder="Q-2", term_end=end))
        assert (late.granted, late.rule) == (False, "R01") and "window of SUB-1007 closed" in late.reason
        term_run = (await handle.describe()).run_id
        renewed = await handle.execute_update(
            SubscriptionWorkflow.renew,
            RenewTermInput(
                holder="Q-1", term_end=end, to_end_date=end.replace(year=end.year + 1), seats=2, term="annual"
            ),
        )
        assert renewed.renewed
        # The next term begins in a new run. (Asked before that, the time-skipping server can answer the query
        # from the run that is ending with "already completed", and then never skip time again.)
        await next_run(handle, term_run)
        assert (await calendar(env.client, "SUB-1007")).end_date == end.replace(year=end.year + 1)

        # Another calendar whose window closed with nothing reserved lapses; a claim after that is refused.
        revit = (await subscription_row(pool, "SUB-1002"))["end_date"]
        await skip_to(env, TermCalendar.of(revit).window_closes + DAY, "SUB-1002")
        await env.client.get_workflow_handle("subscription-SUB-1002").result()
        assert (await subscription_row(pool, "SUB-1002"))["lapsed_on"] == revit
        activities = SubscriptionActivities(env.client, pool)
        refused = await ActivityEnvironment().run(
            activities.reserve_terms,
            TermsInput(quote_number="Q-3", terms=[TermRef(subscription_id="SUB-1002", term_end=revit)]),
        )
        assert [(r.granted, r.rule) for r in refused.results] == [(False, "R01")]
        assert "window closed on" in refused.results[0].reason
        # The lapsed calendar was not started again (with its claims forgotten).
        assert (await env.client.get_workflow_handle("subscription-SUB-1002").describe()).status.name == "COMPLETED"


class RefusingMailbox:
    """An SMTP server that refuses every recipient for good (550)."""

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        return "550 5.1.1 mailbox unavailable"


async def test_r16_smtp_refusal_never_blocks_or_repeats_an_auto_renewal(
    env: WorkflowEnvironment, pool, settings
) -> None:
    from aiosmtpd.controller import Controller

    from tests.helpers import free_port

    port = free_port()
    refusing = Controller(RefusingMailbox(), hostname="127.0.0.1", port=port)
    refusing.start()
    try:
        async with quote_stack(env, pool, settings.model_copy(update={"smtp_port": port})):
            end = (await subscription_row(pool, "SUB-1001"))["end_date"]
            await start_calendars(env, pool, settings, "SUB-1001")
            first_run = (await env.client.get_workflow_handle("subscription-SUB-1001").describe()).run_id
            await skip_to(env, TermCalendar.of(end).renewal_due + DAY, "SUB-1001")
            assert (await calendar(env.client, "SUB-1001")).end_date == end.replace(year=end.year + 1)
            await skip_to(env, TermCalendar.of(end).renewal_due + 60 * DAY, "SUB-1001")
            history = await env.client.get_workflow_handle("subscription-SUB-1001", run_id=first_run).fetch_history()
    finally:
        refusing.stop()
    failed = step_failures(history)
    assert [f.application_failure_info.type for f in failed] == ["MailRefused"]
    renewals = await rows(pool, "SELECT * FROM renewals WHERE subscription_id = 'SUB-1001'")
    assert [(r["source"], r["from_end_date"]) for r in renewals] == [("auto-renew", end)]


async def test_calendars_run_on_their_own_task_queue_beside_the_quotes(
    env: WorkflowEnvironment, pool, settings
) -> None:
    """A burst of calendar work never queues a buyer's quote behind it: each has its own task queue, and
    a worker polls both unless told otherwise (`renewals worker --queues`)."""
    async with quote_stack(env, pool, settings) as quotes:
        await start_calendars(env, pool, settings, "SUB-1001")
        quote = await quotes.create(request("SUB-1001"), send=True)
        calendar_run = await env.client.get_workflow_handle("subscription-SUB-1001").describe()
        quote_run = await env.client.get_workflow_handle(f"quote-{quote.number}").describe()
        calendar_history = await env.client.get_workflow_handle("subscription-SUB-1001").fetch_history()
    assert quote_run.task_queue == settings.temporal_task_queue
    assert calendar_run.task_queue == f"{settings.temporal_task_queue}-calendars"
    # and below a quote's priority: the server hands out a waiting quote's tasks first
    started = calendar_history.events[0].workflow_execution_started_event_attributes
    assert started.priority.priority_key == 4
