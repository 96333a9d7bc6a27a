"""Replay of recorded histories: a change to a workflow that would break running quotes fails here.

`tests/histories/*.json` are the current paths, one history per path of today's code, recorded with a
webhook receiver so they carry the deliveries. Until CHANGELOG.md enters 1.0 no workflow runs anywhere
on an earlier build: a change records them again with `make histories`. From 1.0 on, a change to a
running workflow's path is patched and the histories from before it are kept in
`tests/histories/before-<patch>/`, replayed here too (docs/operations.md, "Changing a workflow").
"""

import json
import os
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from contracts.quote import EditInput
from domain.quotes import Origin, subscription_workflow_id
from domain.revisions import Revision
from runtime.temporal import WORKFLOWS, sandbox
from tests.helpers import quote_result, quote_stack, request, settled, skip, subscriptions

HISTORIES = Path(__file__).parents[1] / "histories"
RECORDED = sorted(HISTORIES.rglob("*.json"))
PATHS = {
    # QuoteWorkflow
    "quote_paid_with_hold",
    "quote_paid_by_card",
    "quote_paid_by_bank_transfer",
    "quote_declined_then_paid",
    "quote_edited_then_paid",
    "quote_co_term_paid",
    "quote_new_purchase_paid",
    "quote_superseded",
    "quote_refused_term_reserved",
    "quote_cancelled",
    "quote_pricing_failed",
    "quote_expired",
    "quote_accepted_then_expired",
    "quote_draft_expired",
    "quote_revised",
    "quote_revision_sent_then_cancelled",
    "quote_answered_extended_resent_paid_with_po",
    "quote_moved_to_a_new_partner_paid",
    # SubscriptionWorkflow
    "subscription_held_and_renewed_by_quote",
    "subscription_renewed_superseding_a_quote",
    "subscription_auto_renewed",
    "subscription_auto_renew_failed",
    "subscription_auto_quote",
    "subscription_switched_off_then_lapsed",
    "subscription_lapsed",
    "subscription_renewed_elsewhere",
    "subscription_auto_quote_made_by_a_load",
    # SignInEmailWorkflow
    "sign_in_email_sent",
}


def released() -> bool:
    """Whether CHANGELOG.md has entered 1.0: from then on, running workflows must keep replaying."""
    changelog = (Path(__file__).parents[2] / "CHANGELOG.md").read_text()
    return any(
        line.startswith("## [") and not line.startswith(("## [Unreleased]", "## [0."))
        for line in changelog.splitlines()
    )


def test_every_lifecycle_path_has_a_recorded_history() -> None:
    assert PATHS == {p.stem for p in HISTORIES.glob("*.json")}


def test_before_1_0_no_history_of_an_earlier_build_is_kept() -> None:
    """Before the first release nothing runs on an earlier build: no patch, no `before-*` histories."""
    if released():
        pytest.skip("released: pre-change histories are kept in before-<patch>/")
    assert not [p.name for p in HISTORIES.iterdir() if p.is_dir()]
    workflows = Path(__file__).parents[2] / "workflows"
    assert not [p.name for p in workflows.glob("*.py") if "workflow.patched" in p.read_text()]


@pytest.mark.asyncio(loop_scope="session")
@pytest.mark.parametrize("path", RECORDED, ids=[str(p.relative_to(HISTORIES).with_suffix("")) for p in RECORDED])
async def test_replay_recorded_history(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, json.loads(path.read_text()))
    replayer = Replayer(workflows=WORKFLOWS, data_converter=pydantic_data_converter, workflow_runner=sandbox())
    await replayer.replay_workflow(history)


@pytest_asyncio.fixture
async def hooked(settings, tmp_path) -> AsyncIterator:
    """The settings with a webhook receiver that is up, so the histories carry the deliveries."""
    from pydantic import SecretStr

    from tests.helpers import free_port
    from workers.serving import serve
    from workers.webhook_sink import PATH, WebhookSink

    port = free_port()
    stop = await serve(WebhookSink(tmp_path / "webhooks", "whsec_record").app(), "127.0.0.1", port)
    yield settings.model_copy(
        update={"webhook_urls": f"http://127.0.0.1:{port}{PATH}", "webhook_secret": SecretStr("whsec_record")}
    )
    await stop()


async def _save(client, workflow_id: str, name: str, run_id: str | None = None) -> None:
    history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
    (HISTORIES / f"{name}.json").write_text(json.dumps(history.to_json_dict(), indent=1) + "\n")


@pytest.mark.asyncio(loop_scope="session")
@pytest.mark.skipif(not os.environ.get("RECORD_HISTORIES"), reason="records histories only when asked to")
async def test_record_histories(env: WorkflowEnvironment, pool, hooked) -> None:
    async with quote_stack(env, pool, hooked) as quotes:
        paid = await quotes.create(request("SUB-1002", seats={"SUB-1002": 2}), send=True)
        await quotes.accept(paid.number)
        await quotes.pay(paid.number, "PSP-1")
        await quote_result(env.client, paid.number)
        await _save(env.client, f"quote-{paid.number}", "quote_paid_with_hold")
        await _save(
            env.client,
            subscription_workflow_id("SUB-1002"),
            "subscription_held_and_renewed_by_quote",
            await _first_run(env.client, "SUB-1002"),
        )

        cancelled = await quotes.create(request("SUB-1001", pause_auto_renew=True), send=True)
        await quotes.cancel(cancelled.number, "partner")
        await quote_result(env.client, cancelled.number)
        await _save(env.client, f"quote-{cancelled.number}", "quote_cancelled")

        edited = await quotes.create(request("SUB-1001", "SUB-1003"))
        await quotes.edit(
            edited.number,
            EditInput(exclude=["SUB-1003"], terms={"SUB-1001": "3-year"}, recipients=["cfo@acme.example"]),
        )
        await quotes.send(edited.number)
        await quotes.accept(edited.number, pay=True)
        await quote_result(env.client, edited.number)
        await _save(env.client, f"quote-{edited.number}", "quote_edited_then_paid")

        async with pool.connection() as conn:
            await conn.execute("DELETE FROM prices WHERE product = 'Inventor'")
        unpriced = await quotes.create(request("SUB-1007"))
        await quotes.cancel(unpriced.number, "sales")
        await quote_result(env.client, unpriced.number)
        await _save(env.client, f"quote-{unpriced.number}", "quote_pricing_failed")

        original = await quotes.create(request("SUB-1003", origin=Origin.SALES), send=True)
        revision = await quotes.revise(original.number, Revision(seats={"SUB-1003": 12}), send=True)
        await quote_result(env.client, original.number)
        await quotes.cancel(revision.number, "sales")
        await quote_result(env.client, revision.number)
        await _save(env.client, f"quote-{original.number}", "quote_revised")
        await _save(env.client, f"quote-{revision.number}", "quote_revision_sent_then_cancelled")

        expired = await quotes.create(request("SUB-1003"), send=True)
        accepted = await quotes.create(request("SUB-1008"), send=True)
        await quotes.accept(accepted.number)
        await settled(env.client, accepted.number)
        await skip(env, expired.number, timedelta(days=31))
        await quote_result(env.client, expired.number)
        await quote_result(env.client, accepted.number)
        await _save(env.client, f"quote-{expired.number}", "quote_expired")
        await _save(env.client, f"quote-{accepted.number}", "quote_accepted_then_expired")


@pytest.mark.asyncio(loop_scope="session")
@pytest.mark.skipif(not os.environ.get("RECORD_HISTORIES"), reason="records histories only when asked to")
async def test_record_bank_transfer_history(env: WorkflowEnvironment, pool, hooked) -> None:
    """R29: accepted to be paid by bank transfer, then the transfer recorded with its RF reference."""
    from domain.bank_transfer import rf_reference

    async with quote_stack(env, pool, hooked) as quotes:
        quote = await quotes.create(request("SUB-1003"), send=True)
        await quotes.accept(quote.number, bank_transfer=True)
        await quotes.pay(quote.number, rf_reference(quote.number), amount=quote.total, currency=quote.currency)
        await quote_result(env.client, quote.number)
        await _save(env.client, f"quote-{quote.number}", "quote_paid_by_bank_transfer")


@pytest.mark.asyncio(loop_scope="session")
@pytest.mark.skipif(not os.environ.get("RECORD_HISTORIES"), reason="records histories only when asked to")
async def test_record_partner_and_procurement_histories(env: WorkflowEnvironment, pool, hooked) -> None:
    """R26 answered, extended, resent, R27 accepted with a PO and paid; R25 a renewal in yen to a new partner."""
    from domain.quotes import DeclineReason, Origin

    async with quote_stack(env, pool, hooked) as quotes:
        quote = await quotes.create(request("SUB-1003", recipients=["cfo@acme.example"]), send=True)
        await quotes.answer(quote.number, "changes_requested", "Fewer seats, please")
        await quotes.answer(quote.number, "declined", "Too dear", DeclineReason.PRICE.value)
        assert quote.expires_at is not None
        await quotes.extend(quote.number, quote.expires_at.date() + timedelta(days=5))
        await quotes.resend(quote.number, ["cfo@acme.example"])
        await quotes.accept(quote.number, pay=True, reference="PSP-PO-1", purchase_order="PO-1")
        await quote_result(env.client, quote.number)
        await _save(env.client, f"quote-{quote.number}", "quote_answered_extended_resent_paid_with_po")

        moving = await quotes.create(
            request("SUB-2002", csn="5100000002", origin=Origin.PARTNER, currency="JPY", new_partner_csn="5200000003"),
            send=True,
        )
        await quotes.accept(moving.number, pay=True, reference="PSP-JPY-1")
        await quote_result(env.client, moving.number)
        await _save(env.client, f"quote-{moving.number}", "quote_moved_to_a_new_partner_paid")


@pytest.mark.asyncio(loop_scope="session")
@pytest.mark.skipif(not os.environ.get("RECORD_HISTORIES"), reason="records histories only when asked to")
async def test_record_money_histories(env: WorkflowEnvironment, pool, hooked, gateway) -> None:
    from contracts.subscription import TermInput
    from domain.errors import PaymentDeclined, Refused
    from payments.gateway import Card
    from tests.helpers import start_calendars, subscription_row
    from workflows.subscription import SubscriptionWorkflow

    good = Card(holder="A. Buyer", number="4242424242424242", expiry="12/29", cvc="123")
    declined = Card(holder="A. Buyer", number="4000000000000002", expiry="12/29", cvc="123")
    async with quote_stack(env, pool, hooked, gateway=gateway) as quotes:
        await start_calendars(env, pool, hooked, "SUB-1001", "SUB-1003", "SUB-1008")
        first_run = await _first_run(env.client, "SUB-1003")
        card = await quotes.create(request("SUB-1003", recipients=["cfo@acme.example"]), send=True)
        superseded = await quotes.create(request("SUB-1003", seats={"SUB-1003": 4}), send=True)
        await quotes.accept(card.number, pay=True, payment_method=await gateway.tokenize(good))
        await quote_result(env.client, card.number)
        await quote_result(env.client, superseded.number)
        await _save(env.client, f"quote-{card.number}", "quote_paid_by_card")
        await _save(env.client, f"quote-{superseded.number}", "quote_superseded")
        await _save(
            env.client, subscription_workflow_id("SUB-1003"), "subscription_renewed_superseding_a_quote", first_run
        )

        retried = await quotes.create(request("SUB-1001", seats={"SUB-1001": 2}), send=True)
        with pytest.raises(PaymentDeclined):
            await quotes.accept(retried.number, pay=True, payment_method=await gateway.tokenize(declined))
        await quotes.pay(retried.number, payment_method=await gateway.tokenize(good))
        await quote_result(env.client, retried.number)
        await _save(env.client, f"quote-{retried.number}", "quote_declined_then_paid")

        end = (await subscription_row(pool, "SUB-1008"))["end_date"]
        blocked = await quotes.create(request("SUB-1008", origin="partner"), send=True)
        calendar = env.client.get_workflow_handle(subscription_workflow_id("SUB-1008"))
        await calendar.execute_update(SubscriptionWorkflow.reserve, TermInput(holder="Q-999999", term_end=end))
        with pytest.raises(Refused):
            await quotes.accept(blocked.number, pay=True, reference="BANK-1")
        await calendar.execute_update(SubscriptionWorkflow.release, TermInput(holder="Q-999999", term_end=end))
        await quotes.cancel(blocked.number, "partner")
        await quote_result(env.client, blocked.number)
        await _save(env.client, f"quote-{blocked.number}", "quote_refused_term_reserved")

        draft = await quotes.create(request("SUB-1002"))
        await skip(env, draft.number, timedelta(days=31))
        await quote_result(env.client, draft.number)
        await _save(env.client, f"quote-{draft.number}", "quote_draft_expired")


@pytest.mark.asyncio(loop_scope="session")
@pytest.mark.skipif(not os.environ.get("RECORD_HISTORIES"), reason="records histories only when asked to")
async def test_record_money_calendar_histories(env: WorkflowEnvironment, pool, hooked) -> None:
    from domain.calendar import TermCalendar
    from store.loader import load
    from tests.helpers import skip_to, subscription_row
    from workers.demo_data import demo_data

    async with quote_stack(env, pool, hooked) as quotes:
        data = demo_data((await env.get_current_time()).date())
        await subscriptions(env, pool, hooked).sync()
        first = {s: await _first_run(env.client, s) for s in ("SUB-3001", "SUB-2001")}
        await quotes.create(request("SUB-2001", csn="5100000002", origin="partner"), send=True)
        async with pool.connection() as conn:
            await load(
                conn,
                data.model_copy(
                    update={
                        "subscriptions": [
                            s.model_copy(update={"end_date": s.end_date.replace(year=s.end_date.year + 1)})
                            if s.id == "SUB-2001"
                            else s
                            for s in data.subscriptions
                        ]
                    }
                ),
            )
            await conn.execute("DELETE FROM prices WHERE product = 'AutoCAD' AND currency = 'JPY'")
        await subscriptions(env, pool, hooked).sync()
        end = (await subscription_row(pool, "SUB-3001"))["end_date"]
        await skip_to(env, TermCalendar.of(end).renewal_due + timedelta(days=1), "SUB-3001")
        await _save(
            env.client, subscription_workflow_id("SUB-3001"), "subscription_auto_renew_failed", first["SUB-3001"]
        )
        await _save(
            env.client, subscription_workflow_id("SUB-2001"), "subscription_renewed_elsewhere", first["SUB-2001"]
        )


@pytest.mark.asyncio(loop_scope="session")
@pytest.mark.skipif(not os.environ.get("RECORD_HISTORIES"), reason="records histories only when asked to")
async def test_record_calendar_histories(env: WorkflowEnvironment, pool, hooked) -> None:
    from domain.calendar import TermCalendar
    from domain.models import QuoteKind
    from domain.quote_rules import NewLine, QuoteRequest
    from tests.helpers import skip_to, start_calendars, subscription_row
    from workers.demo_data import ACME

    async with quote_stack(env, pool, hooked) as quotes:
        co_term = await quotes.create(request("SUB-1003", "SUB-1001", kind="co-term"), send=True)
        await quotes.accept(co_term.number, pay=True)
        await quote_result(env.client, co_term.number)
        await _save(env.client, f"quote-{co_term.number}", "quote_co_term_paid")
        new = await quotes.create(
            QuoteRequest(
                csn=ACME,
                kind=QuoteKind.NEW,
                currency="EUR",
                new_lines=[NewLine(product="Maya", seats=1, term="annual")],
            )
        )
        await quotes.send(new.number)
        await quotes.accept(new.number, pay=True)
        await quote_result(env.client, new.number)
        await _save(env.client, f"quote-{new.number}", "quote_new_purchase_paid")

        names = ("SUB-1008", "SUB-1002", "SUB-1007", "SUB-1006")
        await start_calendars(env, pool, hooked, *names)
        first = {s: await _first_run(env.client, s) for s in names}
        await subscriptions(env, pool, hooked).set_auto_renew("SUB-1006", False)
        end = (await subscription_row(pool, "SUB-1008"))["end_date"]
        await skip_to(env, TermCalendar.of(end).window_closes, *names)
        await _save(env.client, "subscription-SUB-1008", "subscription_auto_renewed", first["SUB-1008"])
        await _save(env.client, "subscription-SUB-1002", "subscription_auto_quote", first["SUB-1002"])
        await _save(env.client, "subscription-SUB-1007", "subscription_lapsed", first["SUB-1007"])
        await _save(env.client, "subscription-SUB-1006", "subscription_switched_off_then_lapsed", first["SUB-1006"])


@pytest.mark.asyncio(loop_scope="session")
@pytest.mark.skipif(not os.environ.get("RECORD_HISTORIES"), reason="records histories only when asked to")
async def test_record_load_history(env: WorkflowEnvironment, pool, hooked) -> None:
    """A load whose row makes the term's auto quote due: the calendar starts with the `load` update, makes
    the quote (R12) and answers with it."""
    files = []

    def switched_off(data):
        subs = [s.model_copy(update={"auto_renew": False}) if s.id == "SUB-1001" else s for s in data.subscriptions]
        files.append(data.model_copy(update={"subscriptions": subs}))
        return files[0]

    async with quote_stack(env, pool, hooked, data=switched_off):
        report = await subscriptions(env, pool, hooked).load(files[0])
        (made,) = report.auto_quotes
        assert made.sent and made.subscription_id == "SUB-1001"
        await _save(env.client, subscription_workflow_id("SUB-1001"), "subscription_auto_quote_made_by_a_load")


@pytest.mark.asyncio(loop_scope="session")
@pytest.mark.skipif(not os.environ.get("RECORD_HISTORIES"), reason="records histories only when asked to")
async def test_record_sign_in_history(env: WorkflowEnvironment, pool, hooked) -> None:
    from contracts import sign_in
    from domain.links import LinkSigner
    from services.account import AccountService

    async with quote_stack(env, pool, hooked) as quotes:
        signer = LinkSigner(hooked.require_link_secrets())
        account = AccountService(
            env.client, pool, hooked.temporal_task_queue, quotes, subscriptions(env, pool, hooked), signer
        )
        assert await account.request_sign_in("buyer@acme.example")
        async with pool.connection() as conn:
            cur = await conn.execute("SELECT id FROM account_sign_ins")
            (row,) = await cur.fetchall()
        workflow_id = sign_in.workflow_id(row["id"])
        await env.client.get_workflow_handle(workflow_id).result()
        await _save(env.client, workflow_id, "sign_in_email_sent")


async def _first_run(client, sub_id: str) -> str:
    async for event in client.get_workflow_handle(subscription_workflow_id(sub_id)).fetch_history_events():
        return event.workflow_execution_started_event_attributes.first_execution_run_id
