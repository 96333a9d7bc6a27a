"""Draft edits: seats, term, a line left out, recipients, address; each re-priced, each checked (R04, R10)."""

from decimal import Decimal

import pytest
from temporalio.testing import WorkflowEnvironment

from contracts.quote import EditInput
from domain.errors import BadInput, Refused
from tests.helpers import quote_stack, request, subscription_row

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_edit_seats_and_term_reprices_and_holds(env: WorkflowEnvironment, pool, settings) -> None:
    async with quote_stack(env, pool, settings) as quotes:
        quote = await quotes.create(request("SUB-1002"))
        assert not (await subscription_row(pool, "SUB-1002"))["held_by"]
        quote = await quotes.edit(quote.number, EditInput(seats={"SUB-1002": 2}, terms={"SUB-1002": "3-year"}))
        # 2 × Revit 3-year EUR 8,208.00 = 16,416.00; REVIT3Y 20% = 3,283.20 beats RENEW10 10%
        line = quote.lines[0]
        assert (line.amount, line.promotion, line.discount) == (Decimal("16416.00"), "REVIT3Y", Decimal("3283.20"))
        assert quote.total == Decimal("13132.80")
        assert (await subscription_row(pool, "SUB-1002"))["held_by"] == [quote.number]


async def test_edit_exclude_line_releases_its_hold(env: WorkflowEnvironment, pool, settings) -> None:
    async with quote_stack(env, pool, settings) as quotes:
        quote = await quotes.create(request("SUB-1001", "SUB-1003", pause_auto_renew=True))
        quote = await quotes.edit(quote.number, EditInput(exclude=["SUB-1003"]))
        assert [line.subscription_id for line in quote.lines] == ["SUB-1001"]
        assert quote.total == Decimal("9135.00")
        assert (await subscription_row(pool, "SUB-1003"))["held_by"] == []
        assert (await subscription_row(pool, "SUB-1003"))["auto_renew"] is True


async def test_edit_recipients_and_address_in_draft(env: WorkflowEnvironment, pool, settings) -> None:
    async with quote_stack(env, pool, settings) as quotes:
        quote = await quotes.create(request("SUB-1001"))
        quote = await quotes.edit(quote.number, EditInput(recipients=["ap@acme.example"], address="Dam 1, Amsterdam"))
        assert (quote.all_recipients, quote.address) == (["buyer@acme.example", "ap@acme.example"], "Dam 1, Amsterdam")


async def test_r10_address_change_after_sending_refused(env: WorkflowEnvironment, pool, settings) -> None:
    async with quote_stack(env, pool, settings) as quotes:
        quote = await quotes.create(request("SUB-1001"), send=True)
        with pytest.raises(Refused) as refused:
            await quotes.edit(quote.number, EditInput(address="Dam 1, Amsterdam"))
        assert refused.value.rule == "R10" and "make a new quote" in refused.value.message


async def test_r10_adding_seats_in_edit_refused_for_self_service(env: WorkflowEnvironment, pool, settings) -> None:
    async with quote_stack(env, pool, settings) as quotes:
        quote = await quotes.create(request("SUB-1001"))
        with pytest.raises(Refused) as refused:
            await quotes.edit(quote.number, EditInput(seats={"SUB-1001": 9}))
        assert refused.value.rule == "R10"
        assert (await quotes.show(quote.number)).lines[0].seats == 5


async def test_r04_fifth_recipient_refused_in_edit(env: WorkflowEnvironment, pool, settings) -> None:
    async with quote_stack(env, pool, settings) as quotes:
        quote = await quotes.create(request("SUB-1001"))
        with pytest.raises(Refused) as refused:
            await quotes.edit(quote.number, EditInput(recipients=[f"r{i}@acme.example" for i in range(5)]))
        assert refused.value.rule == "R04"


async def test_edit_excluding_every_line_is_bad_input(env: WorkflowEnvironment, pool, settings) -> None:
    async with quote_stack(env, pool, settings) as quotes:
        quote = await quotes.create(request("SUB-1001"))
        with pytest.raises(BadInput):
            await quotes.edit(quote.number, EditInput(exclude=["SUB-1001"]))


async def test_refused_creation_leaves_no_row_no_workflow_no_mail(
    env: WorkflowEnvironment, pool, settings, mailbox
) -> None:
    from tests.helpers import scalar

    async with quote_stack(env, pool, settings) as quotes:
        before = await scalar(pool, "SELECT last_value FROM quote_number_seq")
        with pytest.raises(Refused):
            await quotes.create(request("SUB-1001", recipients=[f"r{i}@x.example" for i in range(5)]), send=True)
        assert await scalar(pool, "SELECT count(*) FROM quotes") == 0
        assert await scalar(pool, "SELECT last_value FROM quote_number_seq") == before
        assert await scalar(pool, "SELECT count(*) FROM auto_renew_holds") == 0
    assert mailbox.messages() == []
