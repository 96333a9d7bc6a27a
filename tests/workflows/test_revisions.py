"""R23 revisions on the time-skipping server with the real worker, PostgreSQL and SMTP: a revision is a
new draft with the original's lines and recipients and the changes given; sending it cancels the original
by the system, and the original's hold on auto-renew passes to it with no moment between."""

import json

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment

from domain.errors import Refused
from domain.quotes import Origin, QuoteState
from domain.revisions import Revision
from tests.helpers import quote_result, quote_stack, request, scalar, settled, start_calendars, subscription_row

pytestmark = pytest.mark.asyncio(loop_scope="session")

CFO = "cfo@acme.example"


def partner_quote(*subs: str, **fields):
    return request(*subs, origin=Origin.SALES, recipients=[CFO], **fields)


async def calendar_updates(env: WorkflowEnvironment, sub_id: str) -> list[tuple[str, str, dict | None]]:
    """The calendar's attach and detach updates in the order it took them: (name, quote, its answer)."""
    handle = env.client.get_workflow_handle(f"subscription-{sub_id}")
    taken: dict[str, tuple[str, str]] = {}
    found: list[tuple[str, str, dict | None]] = []
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
            attributes = event.workflow_execution_update_accepted_event_attributes
            name = attributes.accepted_request.input.name
            if name in ("attach", "detach"):
                arg = json.loads(attributes.accepted_request.input.args.payloads[0].data)
                taken[attributes.protocol_instance_id] = (name, arg["quote_number"])
        elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED:
            attributes = event.workflow_execution_update_completed_event_attributes
            if attributes.meta.update_id in taken:
                name, quote = taken.pop(attributes.meta.update_id)
                payloads = attributes.outcome.success.payloads
                found.append((name, quote, json.loads(payloads[0].data) if payloads else None))
    return found


async def test_r23_sent_revision_cancels_the_original_and_its_hold_passes_on_with_no_gap(
    env: WorkflowEnvironment, pool, settings, mailbox
) -> None:
    async with quote_stack(env, pool, settings) as quotes:
        await start_calendars(env, pool, settings, "SUB-1001", "SUB-1003")
        original = await quotes.create(partner_quote("SUB-1001", "SUB-1003", pause_auto_renew=True), send=True)
        assert (await subscription_row(pool, "SUB-1001"))["held_by"] == [original.number]

        revision = await quotes.revise(original.number, Revision(seats={"SUB-1001": 8}, exclude=["SUB-1003"]))
        assert (revision.state, revision.revises, revision.origin) == (QuoteState.DRAFT, original.number, Origin.SALES)
        assert [(line.subscription_id, line.seats) for line in revision.lines] == [("SUB-1001", 8)]
        assert revision.recipients == [CFO] and revision.pause_auto_renew
        # A draft revision changes nothing yet: the original is still sent, both hold.
        assert (await quotes.show(original.number)).state is QuoteState.SENT
        assert (await subscription_row(pool, "SUB-1001"))["held_by"] == sorted([original.number, revision.number])

        sent = await quotes.send(revision.number)
        assert sent.state is QuoteState.SENT
        ended = await quote_result(env.client, original.number)
        assert ended.state is QuoteState.CANCELLED
        replaced = await quotes.show(original.number)
        assert (replaced.cancelled_by, replaced.cancel_reason, replaced.revised_by) == (
            "system",
            f"revised by {revision.number}",
            revision.number,
        )
        await settled(env.client, revision.number)
        assert (await subscription_row(pool, "SUB-1001"))["held_by"] == [revision.number]
        assert (await subscription_row(pool, "SUB-1003"))["held_by"] == []  # left out: its hold ended with the original
        updates = await calendar_updates(env, "SUB-1001")

    # The calendar took the revision's hold before it let the original's go: auto-renew never came back.
    assert [(name, quote) for name, quote, _ in updates] == [
        ("attach", original.number),
        ("attach", revision.number),
        ("detach", original.number),
    ]
    after_release = updates[2][2]
    assert after_release["held_by"] == [revision.number] and after_release["auto_renew"] is False
    assert await scalar(pool, "SELECT count(*) FROM renewals") == 0
    # The original's recipients hear it is no longer valid, and get the revision.
    subjects = sorted((m["To"], m["Subject"]) for m in mailbox.messages())
    assert (CFO, f"No longer valid: quote {original.number}") in subjects
    assert sum(s.startswith(f"Renewal quote {revision.number}") for _, s in subjects) == 2


async def test_r23_a_buyer_cannot_revise_and_nothing_is_created(env: WorkflowEnvironment, pool, settings) -> None:
    async with quote_stack(env, pool, settings) as quotes:
        sales = await quotes.create(partner_quote("SUB-1001"), send=True)
        with pytest.raises(Refused) as refused:
            await quotes.revise(sales.number, Revision(origin=Origin.SELF_SERVICE))
        assert refused.value.rule == "R10" and "a buyer cannot revise" in refused.value.message
        own = await quotes.create(request("SUB-1003"), send=True)  # the buyer's own, self-service
        with pytest.raises(Refused) as refused:
            await quotes.revise(own.number, Revision(seats={"SUB-1003": 5}))
        assert refused.value.rule == "R10"
        assert await scalar(pool, "SELECT count(*) FROM quotes") == 2
        assert (await quotes.show(sales.number)).state is QuoteState.SENT


async def test_r23_ended_quotes_and_drafts_are_not_revised(env: WorkflowEnvironment, pool, settings) -> None:
    async with quote_stack(env, pool, settings) as quotes:
        cancelled = await quotes.create(partner_quote("SUB-1001"), send=True)
        await quotes.cancel(cancelled.number, by="sales")
        with pytest.raises(Refused) as refused:
            await quotes.revise(cancelled.number, Revision())
        assert refused.value.rule == "lifecycle" and "cancelled" in refused.value.message
        draft = await quotes.create(partner_quote("SUB-1003"))
        with pytest.raises(Refused) as refused:
            await quotes.revise(draft.number, Revision())
        assert refused.value.rule == "lifecycle" and "only a sent quote can be revised" in refused.value.message
        assert await scalar(pool, "SELECT count(*) FROM quotes") == 2


async def test_r23_one_open_revision_at_a_time(env: WorkflowEnvironment, pool, settings) -> None:
    async with quote_stack(env, pool, settings) as quotes:
        original = await quotes.create(partner_quote("SUB-1001"), send=True)
        first = await quotes.revise(original.number, Revision(seats={"SUB-1001": 6}))
        with pytest.raises(Refused) as refused:
            await quotes.revise(original.number, Revision(seats={"SUB-1001": 7}))
        assert refused.value.rule == "R23" and first.number in refused.value.message
        # Once that revision is cancelled, another may be made.
        await quotes.cancel(first.number, by="sales")
        second = await quotes.revise(original.number, Revision(seats={"SUB-1001": 7}), send=True)
        assert second.state is QuoteState.SENT and second.lines[0].seats == 7
        assert (await quote_result(env.client, original.number)).state is QuoteState.CANCELLED


async def test_r23_two_revisions_asked_at_once_make_one(env: WorkflowEnvironment, pool, settings) -> None:
    import asyncio

    async with quote_stack(env, pool, settings) as quotes:
        original = await quotes.create(partner_quote("SUB-1001"), send=True)
        results = await asyncio.gather(
            *(quotes.revise(original.number, Revision(seats={"SUB-1001": n})) for n in (6, 7, 8)),
            return_exceptions=True,
        )
        made = [r for r in results if not isinstance(r, BaseException)]
        refusals = [r for r in results if isinstance(r, Refused)]
        assert len(made) == 1 and len(refusals) == 2 and {r.rule for r in refusals} == {"R23"}, results
        assert await scalar(pool, "SELECT count(*) FROM quotes WHERE document->>'revises' = %s", original.number) == 1


async def test_r23_a_hold_asked_for_on_the_original_passes_to_a_revision_that_changes_no_line(
    env: WorkflowEnvironment, pool, settings
) -> None:
    async with quote_stack(env, pool, settings) as quotes:
        await start_calendars(env, pool, settings, "SUB-1001")
        original = await quotes.create(partner_quote("SUB-1001", pause_auto_renew=True), send=True)
        revision = await quotes.revise(original.number, Revision(recipients=["finance@acme.example"]), send=True)
        assert revision.pause_auto_renew and revision.recipients == ["finance@acme.example"]
        await quote_result(env.client, original.number)
        await settled(env.client, revision.number)
        held = await subscription_row(pool, "SUB-1001")
        assert held["held_by"] == [revision.number] and held["auto_renew"] is False


async def test_r23_a_co_term_revision_keeps_the_subscription_its_lines_align_to(
    env: WorkflowEnvironment, pool, settings
) -> None:
    """A co-term quote's lines are the subscriptions that move; the one they align to is not a line, and
    the revision aligns to it again."""
    from domain.models import QuoteKind

    async with quote_stack(env, pool, settings) as quotes:
        original = await quotes.create(
            request("SUB-1001", "SUB-1002", kind=QuoteKind.CO_TERM, origin=Origin.SALES), send=True
        )
        revision = await quotes.revise(original.number, Revision(recipients=["finance@acme.example"]))
        assert [(line.subscription_id, line.co_term_end_date) for line in revision.lines] == [
            (line.subscription_id, line.co_term_end_date) for line in original.lines
        ]
        assert revision.total == original.total and revision.kind is QuoteKind.CO_TERM


async def test_r23_a_revision_is_not_sent_once_the_buyer_accepted_the_original(
    env: WorkflowEnvironment, pool, settings
) -> None:
    async with quote_stack(env, pool, settings) as quotes:
        await start_calendars(env, pool, settings, "SUB-1001")
        original = await quotes.create(partner_quote("SUB-1001"), send=True)
        revision = await quotes.revise(original.number, Revision(seats={"SUB-1001": 7}))
        await quotes.accept(original.number)
        with pytest.raises(Refused) as refused:
            await quotes.send(revision.number)
        assert refused.value.rule == "R23" and "accepted now" in refused.value.message
        assert (await quotes.show(original.number)).state is QuoteState.ACCEPTED
        assert (await quotes.show(revision.number)).state is QuoteState.DRAFT
        # The accepted quote keeps its hold (R17); the draft revision holds too, until it is cancelled.
        assert original.number in (await subscription_row(pool, "SUB-1001"))["held_by"]
