"""QuoteWorkflow on the time-skipping server: every path of the lifecycle, with real PostgreSQL and SMTP."""

from datetime import UTC, date, datetime, time, timedelta

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment

from domain.errors import Refused
from domain.quotes import QuoteState, quote_workflow_id
from tests.helpers import quote_result, quote_stack, request, scalar, settled, skip, subscription_row
from workers.demo_data import ACME, DE_VRIES, SAKURA

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_draft_sent_accepted_paid_renews_once(env: WorkflowEnvironment, pool, settings, mailbox) -> None:
    async with quote_stack(env, pool, settings) as quotes:
        before = await subscription_row(pool, "SUB-1001")
        quote = await quotes.create(request("SUB-1001", recipients=["cfo@acme.example"]))
        assert quote.state is QuoteState.DRAFT
        quote = await quotes.send(quote.number)
        assert quote.state is QuoteState.SENT and quote.expires_at is not None
        quote = await quotes.accept(quote.number)
        assert quote.state is QuoteState.ACCEPTED
        quote = await quotes.pay(quote.number, "PSP-1")
        assert quote.state is QuoteState.PAID and quote.payment_reference == "PSP-1"
        result = await quote_result(env.client, quote.number)
    after = await subscription_row(pool, "SUB-1001")
    assert after["end_date"] == date(before["end_date"].year + 1, before["end_date"].month, before["end_date"].day)
    assert result.renewed == {"SUB-1001": after["end_date"].isoformat()}
    assert await scalar(pool, "SELECT count(*) FROM renewals WHERE subscription_id = 'SUB-1001'") == 1
    events = await scalar(
        pool, "SELECT array_agg(event ORDER BY id) FROM quote_events WHERE quote_number = %s", quote.number
    )
    assert events == ["created", "priced", "sent", "accepted", "paid"]
    subjects = sorted(m["Subject"] for m in mailbox.messages())
    assert len(subjects) == 4 and sum(s.startswith("Paid:") for s in subjects) == 2


async def test_accept_and_pay_is_one_buyer_action(env: WorkflowEnvironment, pool, settings) -> None:
    async with quote_stack(env, pool, settings) as quotes:
        quote = await quotes.create(request("SUB-1003"), send=True)
        quote = await quotes.accept(quote.number, pay=True)
        assert quote.state is QuoteState.PAID
        assert [quote.accepted_at is not None, quote.paid_at is not None] == [True, True]


async def test_r03_paying_twice_changes_nothing(env: WorkflowEnvironment, pool, settings) -> None:
    async with quote_stack(env, pool, settings) as quotes:
        quote = await quotes.create(request("SUB-1003"), send=True)
        await quotes.accept(quote.number, pay=True, reference="first")
        with pytest.raises(Refused) as refused:
            await quotes.pay(quote.number, "second")
        assert refused.value.rule == "lifecycle" and "paid" in refused.value.message
        await quote_result(env.client, quote.number)
    assert await scalar(pool, "SELECT count(*) FROM renewals") == 1
    assert await scalar(pool, "SELECT reference FROM payments WHERE quote_number = %s", quote.number) == "first"


async def test_r15_sent_quote_expires_after_30_days(env: WorkflowEnvironment, pool, settings) -> None:
    async with quote_stack(env, pool, settings) as quotes:
        quote = await quotes.create(request("SUB-1002"), send=True)
        await skip(env, quote.number, timedelta(days=30))
        assert (await quotes.show(quote.number)).state is QuoteState.EXPIRED
        with pytest.raises(Refused) as refused:
            await quotes.accept(quote.number)
        assert refused.value.rule == "lifecycle"


async def test_r15_accept_one_second_before_expiry_succeeds(env: WorkflowEnvironment, pool, settings) -> None:
    async with quote_stack(env, pool, settings) as quotes:
        quote = await quotes.create(request("SUB-1002"), send=True)
        await settled(env.client, quote.number)
        await env.sleep(quote.expires_at - await env.get_current_time() - timedelta(seconds=1))
        assert (await quotes.accept(quote.number)).state is QuoteState.ACCEPTED


async def test_r15_accept_at_expiry_refused(env: WorkflowEnvironment, pool, settings) -> None:
    async with quote_stack(env, pool, settings) as quotes:
        quote = await quotes.create(request("SUB-1002"), send=True)
        await settled(env.client, quote.number)
        await env.sleep(quote.expires_at - await env.get_current_time())
        with pytest.raises(Refused) as refused:
            await quotes.accept(quote.number)
        assert refused.value.rule in ("R15", "lifecycle")
        assert (await quote_result(env.client, quote.number)).state is QuoteState.EXPIRED


async def test_r15_accepted_but_unpaid_quote_expires(env: WorkflowEnvironment, pool, settings) -> None:
    async with quote_stack(env, pool, settings) as quotes:
        quote = await quotes.create(request("SUB-1002"), send=True)
        await quotes.accept(quote.number)
        await skip(env, quote.number, timedelta(days=30))
        assert (await quotes.show(quote.number)).state is QuoteState.EXPIRED
        with pytest.raises(Refused) as refused:
            await quotes.pay(quote.number)
        assert refused.value.rule == "lifecycle"


async def test_r15_expiry_capped_at_window_close_of_earliest_line(env: WorkflowEnvironment, pool, settings) -> None:
    async with quote_stack(env, pool, settings) as quotes:
        # SUB-1007 ended 20 days ago: its window closes in 25 days, before the 30 days of validity.
        capped = await quotes.create(request("SUB-1007", "SUB-1001"), send=True)
        inventor = await subscription_row(pool, "SUB-1007")
        assert capped.expires_at == datetime.combine(inventor["end_date"] + timedelta(days=46), time(0), UTC)
        plain = await quotes.create(request("SUB-1001"), send=True)
        assert plain.expires_at == plain.sent_at + timedelta(days=30)


async def test_cancel_by_partner_and_by_sales(env: WorkflowEnvironment, pool, settings) -> None:
    async with quote_stack(env, pool, settings) as quotes:
        draft = await quotes.create(request("SUB-1001"))
        sent = await quotes.create(request("SUB-1003"), send=True)
        assert (await quotes.cancel(draft.number, "sales")).state is QuoteState.CANCELLED
        assert (await quotes.cancel(sent.number, "partner")).cancelled_by == "partner"


async def test_r10_buyer_cannot_cancel(env: WorkflowEnvironment, pool, settings) -> None:
    async with quote_stack(env, pool, settings) as quotes:
        quote = await quotes.create(request("SUB-1001"), send=True)
        with pytest.raises(Refused) as refused:
            await quotes.cancel(quote.number, "buyer")
        assert refused.value.rule == "R10" and "partner or sales" in refused.value.message
        assert (await quotes.show(quote.number)).state is QuoteState.SENT


async def test_terminal_states_never_change(env: WorkflowEnvironment, pool, settings) -> None:
    async with quote_stack(env, pool, settings) as quotes:
        quote = await quotes.create(request("SUB-1001"), send=True)
        await quotes.cancel(quote.number, "sales")
        for action in (quotes.send, quotes.accept, quotes.pay):
            with pytest.raises(Refused):
                await action(quote.number)
        with pytest.raises(Refused):
            await quotes.cancel(quote.number, "partner")
        assert (await quotes.show(quote.number)).state is QuoteState.CANCELLED


async def test_refused_update_leaves_no_trace_in_history(env: WorkflowEnvironment, pool, settings) -> None:
    async with quote_stack(env, pool, settings) as quotes:
        quote = await quotes.create(request("SUB-1001"))
        handle = env.client.get_workflow_handle(quote_workflow_id(quote.number))
        before = len((await handle.fetch_history()).events)
        with pytest.raises(Refused):
            await quotes.accept(quote.number)
        added = {EventType.Name(e.event_type) for e in (await handle.fetch_history()).events[before:]}
        # The test server records the empty task that ran the validator; the real server drops it.
        assert added <= {
            "EVENT_TYPE_WORKFLOW_TASK_SCHEDULED",
            "EVENT_TYPE_WORKFLOW_TASK_STARTED",
            "EVENT_TYPE_WORKFLOW_TASK_COMPLETED",
        }


async def test_r15_missing_price_leaves_draft_with_reason(env: WorkflowEnvironment, pool, settings) -> None:
    async with quote_stack(env, pool, settings) as quotes:
        async with pool.connection() as conn:
            await conn.execute("DELETE FROM prices WHERE product = 'Fusion'")
        quote = await quotes.create(request("SUB-1003"))
        assert quote.state is QuoteState.DRAFT
        assert quote.pricing_error == "no price for Fusion monthly in EUR"
        with pytest.raises(Refused) as refused:
            await quotes.send(quote.number)
        assert refused.value.rule == "R15" and "no price for Fusion" in refused.value.message


async def test_lifecycle_quote_cancelled_while_first_attaching_is_never_priced(
    env: WorkflowEnvironment, pool, settings
) -> None:
    import asyncio

    from temporalio import activity

    from activities.subscriptions import AttachQuoteInput
    from contracts.subscription import AutoRenewState
    from runtime.temporal import activities
    from tests.helpers import rows, worker_with

    release, attaching = asyncio.Event(), asyncio.Queue()

    @activity.defn(name="attach_quote")
    async def slow_attach(input: AttachQuoteInput) -> AutoRenewState:
        """The calendar does not answer (an outage) until released: the attach goes on as a regular activity."""
        if activity.info().is_local:
            raise RuntimeError("the calendar does not answer")
        await attaching.put(input.quote_number)
        await release.wait()
        return AutoRenewState(
            subscription_id=input.subscription_id,
            auto_renew=True,
            held_by=[],
            pending=[],
            version=0,
            end_date=date(2030, 1, 1),
        )

    real = [a for a in activities(env.client, pool, settings) if a.__name__ != "attach_quote"]
    worker = worker_with(env.client, settings, [*real, slow_attach])
    async with quote_stack(env, pool, settings, worker=worker) as quotes:
        creating = asyncio.create_task(quotes.create(request("SUB-1001")))
        number = await asyncio.wait_for(attaching.get(), 30)
        cancelling = asyncio.create_task(quotes.cancel(number, "sales"))
        await asyncio.sleep(0.5)  # the cancel waits for the attach: its settling never overtakes it
        assert not cancelling.done()  # and goes first once it is done: never priced
        release.set()
        cancelled = await cancelling
        created = await creating
        ended = await quote_result(env.client, number)
        events = [
            r["event"]
            for r in await rows(pool, "SELECT event FROM quote_events WHERE quote_number = %s ORDER BY id", number)
        ]
    assert cancelled.state is created.state is ended.state is QuoteState.CANCELLED
    assert created.total == 0 and created.lines[0].amount is None
    assert events == ["created", "cancelled"]


async def test_r06_single_subscription_self_service_quote_renews_only_that_one(
    env: WorkflowEnvironment, pool, settings, mailbox
) -> None:
    """A buyer renews one subscription of several on its own: one line, the buyer's email, and paying it
    renews that subscription and leaves its siblings (same customer, currency and method) as they were."""
    async with quote_stack(env, pool, settings) as quotes:
        before = {s: await subscription_row(pool, s) for s in ("SUB-1001", "SUB-1002", "SUB-1003")}
        quote = await quotes.create(request("SUB-1003"), send=True)
        assert (quote.origin, [line.subscription_id for line in quote.lines]) == ("self-service", ["SUB-1003"])
        await settled(env.client, quote.number)
        (mail,) = mailbox.messages()
        assert (mail["To"], mail["Subject"].split(":")[0]) == ("buyer@acme.example", f"Renewal quote {quote.number}")
        body = mail.get_body(("plain",)).get_content()
        assert "SUB-1003" in body and "SUB-1001" not in body and "SUB-1002" not in body
        await quotes.accept(quote.number, pay=True, reference="BANK-6")
        await quote_result(env.client, quote.number)
        after = {s: await subscription_row(pool, s) for s in before}
    assert after["SUB-1003"]["end_date"] > before["SUB-1003"]["end_date"]
    for sibling in ("SUB-1001", "SUB-1002"):
        assert (after[sibling]["end_date"], after[sibling]["held_by"]) == (before[sibling]["end_date"], [])
    assert await scalar(pool, "SELECT array_agg(subscription_id) FROM renewals") == ["SUB-1003"]


@pytest.mark.parametrize(
    ("subs", "csn", "says"),
    [
        (("SUB-1001", "SUB-2001"), ACME, "SUB-2001 belongs to customer 5100000002, not 5100000001"),
        (("SUB-3001", "SUB-3003"), SAKURA, "every subscription on a quote has one currency; these have EUR, JPY"),
    ],
)
async def test_r09_one_customer_and_one_currency_refused_on_the_server_and_nothing_made(
    env: WorkflowEnvironment, pool, settings, mailbox, subs, csn, says
) -> None:
    async with quote_stack(env, pool, settings) as quotes:
        with pytest.raises(Refused) as refused:
            await quotes.create(request(*subs, csn=csn), send=True)
        assert (refused.value.rule, refused.value.message) == ("R09", says)
        assert await quotes.find() == []
        assert [(await subscription_row(pool, s))["held_by"] for s in subs] == [[], []]
    assert await scalar(pool, "SELECT count(*) FROM quotes") == 0
    assert mailbox.messages() == []


async def test_r05_bulk_renewal_of_a_group_leaving_one_out_renews_the_rest_once(
    env: WorkflowEnvironment, pool, settings, mailbox
) -> None:
    """The buyer's group (one customer, currency and purchase method, as the account lists it) with one
    subscription left out: one quote for the rest, its recipients mailed, paying renews exactly those."""
    from domain.grouping import renewal_groups
    from tests.helpers import subscriptions

    async with quote_stack(env, pool, settings) as quotes:
        subs, _ = await subscriptions(env, pool, settings).of_customer(ACME)
        today = (await env.get_current_time()).date()
        (group,) = [g for g in renewal_groups(subs, today) if g.key == f"{ACME}/EUR/direct"]
        ids = [s.id for s in group.subscriptions]
        assert sorted(ids) == ["SUB-1001", "SUB-1002", "SUB-1003", "SUB-1007"]
        quote = await quotes.create(
            request(*ids, exclude=["SUB-1003"], recipients=["cfo@acme.example"], origin="sales"), send=True
        )
        assert sorted(line.subscription_id or "" for line in quote.lines) == ["SUB-1001", "SUB-1002", "SUB-1007"]
        await quotes.accept(quote.number, pay=True, reference="BANK-5")
        await quote_result(env.client, quote.number)
        left_out = await subscription_row(pool, "SUB-1003")
    renewed = await scalar(pool, "SELECT array_agg(subscription_id ORDER BY subscription_id) FROM renewals")
    assert renewed == ["SUB-1001", "SUB-1002", "SUB-1007"]
    assert left_out["end_date"] == next(s.end_date for s in subs if s.id == "SUB-1003")
    offered = sorted(m["To"] for m in mailbox.messages() if m["Subject"].startswith("Renewal quote"))
    assert offered == ["buyer@acme.example", "cfo@acme.example"]


async def test_r08_two_partners_on_one_quote_refused_on_the_server_and_nothing_made(
    env: WorkflowEnvironment, pool, settings, mailbox
) -> None:
    async with quote_stack(env, pool, settings) as quotes:
        with pytest.raises(Refused) as refused:
            await quotes.create(request("SUB-2001", "SUB-2003", csn=DE_VRIES, origin="partner"), send=True)
        assert await quotes.find() == []
    assert (refused.value.rule, refused.value.message) == (
        "R08",
        "every subscription on a quote has the same partner; these have 5200000001, 5200000002",
    )
    assert await scalar(pool, "SELECT count(*) FROM quotes") == 0 and mailbox.messages() == []
